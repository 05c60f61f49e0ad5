package module_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	cfile "github.com/costlb/costlb/caddyfile"
	"github.com/costlb/costlb/linkgraph"
	"github.com/costlb/costlb/module"
)

// TestAutoLinkCaddyfile: "link <a> <b> auto" on a link of the local site
// is an auto link, and adapts to JSON "cost": "auto".
func TestAutoLinkCaddyfile(t *testing.T) {
	a, err := unmarshalApp("costlb {\n site east\n link east west auto\n link west north 3\n}")
	if err != nil {
		t.Fatal(err)
	}
	want := []linkgraph.Link{{Between: [2]string{"east", "west"}, Auto: true}, lk("west", "north", 3)}
	if len(a.Links) != 2 || a.Links[0] != want[0] || a.Links[1] != want[1] {
		t.Fatalf("links %+v, want %+v", a.Links, want)
	}
	js, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(js); !strings.Contains(got, `{"between":["east","west"],"cost":"auto"}`) || !strings.Contains(got, `{"between":["west","north"],"cost":3}`) {
		t.Fatalf("adapted JSON %s: want the auto link with \"cost\":\"auto\"", got)
	}
	var back module.App
	if err := json.Unmarshal(js, &back); err != nil || len(back.Links) != 2 || back.Links[0] != want[0] {
		t.Fatalf("the adapted JSON decodes to %+v, %v", back.Links, err)
	}
}

// TestAutoLinkJSON: JSON "cost": "auto" decodes to an auto link; other
// strings are refused, naming the link's place and what is allowed.
func TestAutoLinkJSON(t *testing.T) {
	var a module.App
	if err := json.Unmarshal([]byte(`{"site": "east", "links": [{"between": ["west", "east"], "cost": "auto"}]}`), &a); err != nil {
		t.Fatal(err)
	}
	if len(a.Links) != 1 || !a.Links[0].Auto || a.Links[0].Cost != 0 {
		t.Fatalf("links %+v, want one auto link", a.Links)
	}
	for _, bad := range []string{`"Auto"`, `"automatic"`, `"5"`, `true`, `null`} {
		a = module.App{}
		err := json.Unmarshal([]byte(`{"site": "east", "links": [{"between": ["west", "east"], "cost": `+bad+`}]}`), &a)
		if err == nil {
			t.Errorf("cost %s was accepted", bad)
			continue
		}
		for _, want := range []string{"apps.costlb.links[0]", bad, "from 1 to 2147483647", `"auto"`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("cost %s: error %q does not say %q", bad, err, want)
			}
		}
	}
}

// TestAutoLinkRefusedOnRemoteLink: auto on a link between two other
// sites is refused, by caddy adapt (the Caddyfile) as by the JSON path,
// naming the link, its place and why.
func TestAutoLinkRefusedOnRemoteLink(t *testing.T) {
	_, err := unmarshalApp("costlb {\n site east\n link east west 5\n link west north auto\n}")
	checkErr(t, "link west north auto", err, []string{
		"apps.costlb.links[1]", `"west"–"north" (cost auto)`, `local site "east" at one end`, "route costs", "give this link a number",
	})
}

// TestAutoLinkCostOverrideRefused: a service's link_cost sets a number;
// auto is for the network's links.
func TestAutoLinkCostOverrideRefused(t *testing.T) {
	d := caddyfile.NewTestDispenser("link_cost east west auto")
	d.Next()
	_, err := cfileLinkCost(d)
	checkErr(t, "link_cost east west auto", err, []string{"link_cost east west auto", "sets a number", "link <site> <site> auto"})

	n, err := linkgraph.New("east", []linkgraph.Link{{Between: [2]string{"east", "west"}, Auto: true}})
	if err != nil {
		t.Fatal(err)
	}
	if l := n.Links()[0]; l.Cost != linkgraph.UnmeasuredCost {
		t.Errorf("an auto link counts %d before any measurement, want %d", l.Cost, linkgraph.UnmeasuredCost)
	}
	_, err = n.Paths([]linkgraph.Link{{Between: [2]string{"east", "west"}, Auto: true}})
	checkErr(t, "override auto", err, []string{"cost override 0", `"auto" is for the links of the network only`})
}

func cfileLinkCost(d *caddyfile.Dispenser) (linkgraph.Link, error) {
	return cfile.LinkCost(d, "costlb")
}
