package linkgraph_test

import (
	"encoding/json"
	"fmt"

	"github.com/costlb/costlb/linkgraph"
)

func Example() {
	var links []linkgraph.Link
	err := json.Unmarshal([]byte(`[
		{"between": ["hq", "east"], "cost": 10},
		{"between": ["hq", "west"]},
		{"between": ["west", "east"], "cost": 2},
		{"between": ["mars", "venus"]}
	]`), &links)
	if err != nil {
		panic(err)
	}
	network, err := linkgraph.New("hq", links)
	if err != nil {
		panic(err)
	}
	paths, err := network.Paths(nil)
	if err != nil {
		panic(err)
	}
	for _, c := range paths.Costs() {
		fmt.Println(c.Site, c.Reachable, c.Cost, paths.Path(c.Site))
	}

	// For one service, the direct link to east is cheap.
	paths, err = network.Paths([]linkgraph.Link{{Between: [2]string{"east", "hq"}, Cost: 1}})
	if err != nil {
		panic(err)
	}
	east, _ := paths.Cost("east")
	fmt.Println(east.Cost, paths.Path("east"))
	// Output:
	// hq true 0 [hq]
	// west true 1 [hq west]
	// east true 3 [hq west east]
	// mars false 0 []
	// venus false 0 []
	// 1 [hq east]
}

func ExampleNew_errors() {
	_, err := linkgraph.New("hq", []linkgraph.Link{
		{Between: [2]string{"hq", "east"}},
		{Between: [2]string{"east", "hq"}, Cost: 5},
		{Between: [2]string{"west", "west coast"}},
	})
	fmt.Println(err)
	// Output:
	// links 0 ("hq"–"east") and 1 ("east"–"hq" (cost 5)) join the same pair of sites "east" and "hq": each pair may be linked only once
	// link 2 ("west"–"west coast"): second site: site name "west coast" contains whitespace (U+0020 at byte 4): a site name must be 1 to 128 bytes of valid UTF-8 with no whitespace or control characters
}
