package linkgraph

// Per-service link cost overrides: how Paths takes them, and which it
// refuses.

import (
	"reflect"
	"slices"
	"strings"
	"testing"
)

func TestPathsOverridesLeaveNetworkUnchanged(t *testing.T) {
	links := []Link{ln("hq", "target", 3), ln("hq", "a", 5), ln("a", "target", 5)}
	n := mustNew(t, "hq", links)
	before, err := n.Paths(nil)
	if err != nil {
		t.Fatal(err)
	}
	wantLinks := n.Links()

	overrides := []Link{ln("hq", "a", 1), ln("a", "target", 1)}
	p, err := n.Paths(overrides)
	if err != nil {
		t.Fatal(err)
	}
	if r, _ := p.Route("target"); !reflect.DeepEqual(r, route(2, "hq", "a", "target")) {
		t.Fatalf("with overrides: %+v", r)
	}

	// The network, earlier Paths and later Paths without overrides are as before.
	if got := n.Links(); !slices.Equal(got, wantLinks) {
		t.Errorf("Links() after Paths with overrides = %v, want %v", got, wantLinks)
	}
	for _, pair := range [][2]string{{"hq", "target"}, {"hq", "a"}, {"a", "target"}} {
		c, _ := n.LinkCost(pair[0], pair[1])
		want, _ := linkCostIn(links, pair)
		if c != want {
			t.Errorf("LinkCost(%q, %q) = %d after overrides, want %d", pair[0], pair[1], c, want)
		}
	}
	after, err := n.Paths(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []Route{route(0, "hq"), route(3, "hq", "target"), route(5, "hq", "a")}
	if got := before.Routes(); !reflect.DeepEqual(got, want) {
		t.Errorf("Routes() before = %+v, want %+v", got, want)
	}
	if got := after.Routes(); !reflect.DeepEqual(got, want) {
		t.Errorf("Routes() after = %+v, want %+v", got, want)
	}
	if overrides[0] != ln("hq", "a", 1) {
		t.Errorf("Paths changed its overrides: %v", overrides)
	}
}

// linkCostIn finds the cost of a pair in a link list, for the test above.
func linkCostIn(links []Link, pair [2]string) (int64, bool) {
	for _, l := range links {
		if l.Between == pair || l.Between == [2]string{pair[1], pair[0]} {
			return l.Cost, true
		}
	}
	return 0, false
}

func TestPathsOverrideErrors(t *testing.T) {
	n := mustNew(t, "hq", []Link{ln("hq", "east", 1), ln("east", "west", 1), ln("hq", "west", 4)})
	tests := []struct {
		name      string
		overrides []Link
		want      []string
	}{
		{"unknown site", []Link{ln("hq", "mars", 1)}, []string{"override 0", `"mars"`, "does not exist"}},
		{"unknown first site", []Link{ln("hq", "east", 2), ln("venus", "east", 1)}, []string{"override 1", `"venus"`, "does not exist"}},
		{"empty site", []Link{ln("", "east", 1)}, []string{"override 0", `""`, "does not exist"}},
		{"self link", []Link{ln("east", "east", 1)}, []string{"override 0", `"east"`, "to itself"}},
		{"self link of unknown site", []Link{ln("mars", "mars", 1)}, []string{"override 0", `"mars"`, "does not exist", "to itself"}},
		{"self link after valid ones", []Link{ln("hq", "east", 2), ln("west", "hq", 1), ln("hq", "hq", 1)}, []string{"override 2", "to itself"}},
		{"valid overrides", []Link{ln("hq", "east", 2), ln("west", "east", MaxCost), ln("west", "hq", 0)}, nil}, // control case
		{"duplicate pair", []Link{ln("hq", "east", 2), ln("east", "west", 3), ln("east", "hq", 5)},
			[]string{"overrides 0", "and 2", `"hq"–"east"`, "only once"}},
		{"negative cost", []Link{ln("hq", "east", -1)}, []string{"override 0", "cost -1", "must be an integer from 1 to 2147483647"}},
		{"cost too large", []Link{ln("hq", "east", MaxCost+1)}, []string{"override 0", "cost 2147483648", "must be an integer from 1 to 2147483647"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := n.Paths(tt.overrides)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Paths = %+v, want an error", p.Routes())
			}
			if p != nil {
				t.Error("Paths returned paths with an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}

	// A pair of existing sites that is not linked.
	n2 := mustNew(t, "hq", []Link{ln("hq", "east", 1), ln("hq", "west", 1)})
	_, err := n2.Paths([]Link{ln("east", "west", 1)})
	if err == nil || !strings.Contains(err.Error(), `no link between "east" and "west"`) || !strings.Contains(err.Error(), "override 0") {
		t.Errorf("override of a pair that is not linked: %v", err)
	}
}
