package linkgraph

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestAutoLink: "cost": "auto" decodes to an Auto link and encodes back;
// it counts UnmeasuredCost in the network, and an override can lower it.
func TestAutoLink(t *testing.T) {
	var l Link
	if err := json.Unmarshal([]byte(`{"between": ["east", "west"], "cost": "auto"}`), &l); err != nil {
		t.Fatal(err)
	}
	if !l.Auto || l.Cost != 0 || l.String() != `"east"–"west" (cost auto)` {
		t.Fatalf("decoded %+v (%v)", l, l)
	}
	js, err := json.Marshal(l)
	if err != nil || string(js) != `{"between":["east","west"],"cost":"auto"}` {
		t.Fatalf("encoded %s, %v", js, err)
	}
	for _, plain := range []Link{{Between: [2]string{"a", "b"}}, {Between: [2]string{"a", "b"}, Cost: 7}} {
		js, _ := json.Marshal(plain)
		var back Link
		if err := json.Unmarshal(js, &back); err != nil || back != plain {
			t.Errorf("%+v encodes as %s and decodes to %+v, %v", plain, js, back, err)
		}
	}
	if err := json.Unmarshal([]byte(`{"between": ["east", "west"], "cost": "AUTO"}`), &l); err == nil || !strings.Contains(err.Error(), `"auto"`) {
		t.Errorf("cost \"AUTO\": error %v, want one that names \"auto\"", err)
	}

	n, err := New("east", []Link{{Between: [2]string{"east", "west"}, Auto: true}, {Between: [2]string{"east", "north"}, Cost: 50}})
	if err != nil {
		t.Fatal(err)
	}
	p, _ := n.Paths(nil)
	if c, _ := p.Cost("west"); c.Cost != UnmeasuredCost {
		t.Fatalf("unmeasured west costs %d, want %d", c.Cost, UnmeasuredCost)
	}
	p, err = n.Paths([]Link{{Between: [2]string{"west", "east"}, Cost: 12}})
	if err != nil {
		t.Fatal(err)
	}
	if c, _ := p.Cost("west"); c.Cost != 12 {
		t.Fatalf("west measured at 12 costs %d", c.Cost)
	}
}
