package linkgraph

import (
	"fmt"
	"strings"
	"testing"
)

func TestStrayLinks(t *testing.T) {
	sites := func(s ...string) Use { return Use{Sites: s} }
	tests := []struct {
		name  string
		local string
		links []Link
		uses  []Use
		want  []string // "a-b: substring of why" per stray link, in order
	}{
		// The networks of examples/.
		{"quickstart", "east", []Link{ln("east", "west", 5), ln("west", "north", 9994)}, []Use{sites("east", "west", "north")}, nil},
		{"failover", "east", []Link{ln("east", "dr", 9999)}, []Use{sites("east", "dr")}, nil},
		{"http", "east", []Link{ln("east", "west", 5), ln("east", "dr", 9999)}, []Use{sites("east", "west", "dr")}, nil},
		{"chain a", "a", []Link{ln("a", "b", 2), ln("a", "e", 9)}, []Use{sites("b", "e"), sites("e")}, nil},
		{"chain b: the link to a is b's own", "b", []Link{ln("a", "b", 2), ln("b", "c", 3)}, []Use{sites("c")}, nil},
		{"chain c: the link to b is c's own", "c", []Link{ln("b", "c", 3)}, []Use{sites("c"), sites("c")}, nil},
		{"mtls b", "b", []Link{ln("a", "b", 3)}, []Use{sites("b")}, nil},
		{"no services: only the local site's links are used", "b", []Link{ln("a", "b", 3), ln("a", "c", 1)}, nil,
			[]string{`"a"–"c": sites "a" and "c" have no backend`}},

		{"transit site", "east", []Link{ln("east", "west", 5), ln("west", "north", 1)}, []Use{sites("north")}, nil},
		{"unreachable island", "east", []Link{ln("east", "west", 5), ln("south", "north", 3)}, []Use{sites("east", "west")},
			[]string{`"south"–"north": no path from the local site "east" reaches it`}},
		{"leads to no backend", "east", []Link{ln("east", "west", 5), ln("west", "north", 1)}, []Use{sites("east", "west")},
			[]string{`"west"–"north": site "north" has no backend of any service and is on no cheapest path from the local site "east" to a backend's site`}},
		{"equally cheap paths are both used", "east",
			[]Link{ln("east", "a", 1), ln("a", "dst", 1), ln("east", "b", 1), ln("b", "dst", 1)}, []Use{sites("dst")}, nil},
		{"a dearer path is not used", "east",
			[]Link{ln("east", "a", 1), ln("a", "dst", 1), ln("east", "b", 1), ln("b", "dst", 2)}, []Use{sites("dst")},
			[]string{`"b"–"dst": site "b" has no backend`}},
		{"a path cheapest under one service's override is used", "east",
			[]Link{ln("east", "a", 1), ln("a", "dst", 1), ln("east", "b", 1), ln("b", "dst", 5)},
			[]Use{sites("dst"), {Sites: []string{"dst"}, Overrides: []Link{ln("dst", "a", 9)}}}, nil},
		{"an override that makes a path dearer", "east",
			[]Link{ln("east", "a", 1), ln("a", "dst", 1), ln("east", "b", 1), ln("b", "dst", 5)},
			[]Use{{Sites: []string{"dst"}, Overrides: []Link{ln("dst", "a", 9)}}},
			[]string{`"a"–"dst": site "a" has no backend`}},
		{"a bad override counts as none", "east",
			[]Link{ln("east", "a", 1), ln("a", "dst", 1), ln("east", "b", 1), ln("b", "dst", 5)},
			[]Use{{Sites: []string{"dst", "nowhere"}, Overrides: []Link{ln("dst", "zzz", 9)}}},
			[]string{`"b"–"dst": site "b" has no backend`}},
		{"a backend site beyond another", "east",
			[]Link{ln("east", "west", 5), ln("west", "north", 1), ln("north", "far", 1), ln("west", "side", 1)},
			[]Use{sites("west"), sites("far")},
			[]string{`"west"–"side": site "side" has no backend`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustNew(t, tt.local, tt.links).StrayLinks(tt.uses)
			if len(got) != len(tt.want) {
				t.Fatalf("StrayLinks = %v, want %d: %q", got, len(tt.want), tt.want)
			}
			for i, s := range got {
				shown := fmt.Sprintf("%q–%q: %s", s.Link.Between[0], s.Link.Between[1], s.Why)
				if w := tt.want[i]; !strings.Contains(shown, w) {
					t.Errorf("stray link %d is %q, want it to contain %q", i, s, w)
				}
			}
		})
	}
}
