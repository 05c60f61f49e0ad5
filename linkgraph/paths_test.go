package linkgraph

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

func TestPaths(t *testing.T) {
	const M = MaxCost
	// chain returns n links of cost c: c0-c1-...-cn.
	chain := func(n int, c int64) []Link {
		var links []Link
		for i := range n {
			links = append(links, ln(fmt.Sprintf("c%04d", i), fmt.Sprintf("c%04d", i+1), c))
		}
		return links
	}
	tests := []struct {
		name      string
		local     string
		links     []Link
		overrides []Link
		want      []Route // Routes(), in order
	}{
		{
			name:  "line from the end",
			local: "a",
			links: []Link{ln("a", "b", 1), ln("b", "c", 2), ln("c", "d", 3)},
			want: []Route{
				route(0, "a"),
				route(1, "a", "b"),
				route(3, "a", "b", "c"),
				route(6, "a", "b", "c", "d"),
			},
		},
		{
			name:  "line from the middle",
			local: "c",
			links: []Link{ln("c", "d", 3), ln("a", "b", 1), ln("b", "c", 2)},
			want: []Route{
				route(0, "c"),
				route(2, "c", "b"),
				route(3, "c", "d"),      // cost 3, 1 hop
				route(3, "c", "b", "a"), // cost 3, 2 hops
			},
		},
		{
			name:  "triangle, two hops cheaper than direct",
			local: "a",
			links: []Link{ln("a", "b", 1), ln("b", "c", 1), ln("a", "c", 5)},
			want:  []Route{route(0, "a"), route(1, "a", "b"), route(2, "a", "b", "c")},
		},
		{
			name:  "triangle, equal cost prefers fewer hops",
			local: "a",
			links: []Link{ln("a", "b", 1), ln("b", "c", 1), ln("c", "a", 2)},
			want:  []Route{route(0, "a"), route(1, "a", "b"), route(2, "a", "c")},
		},
		{
			name:  "triangle, default costs",
			local: "b",
			links: []Link{ln("a", "b", 0), ln("b", "c", 0), ln("c", "a", 0)},
			want:  []Route{route(0, "b"), route(1, "b", "a"), route(1, "b", "c")},
		},
		{
			name:  "mesh, multi-hop path cheaper than the direct link",
			local: "hq",
			links: []Link{
				ln("hq", "east", 10), ln("hq", "west", 1), ln("west", "north", 1),
				ln("north", "east", 1), ln("west", "east", 5), ln("east", "south", 1),
				ln("hq", "south", 20),
			},
			want: []Route{
				route(0, "hq"),
				route(1, "hq", "west"),
				route(2, "hq", "west", "north"),
				route(3, "hq", "west", "north", "east"),
				route(4, "hq", "west", "north", "east", "south"),
			},
		},
		{
			name:  "disconnected parts",
			local: "a",
			links: []Link{ln("a", "b", 2), ln("c", "d", 1), ln("d", "e", 1), ln("x", "y", 1)},
			want: []Route{
				route(0, "a"), route(2, "a", "b"),
				unreachable("c"), unreachable("d"), unreachable("e"), unreachable("x"), unreachable("y"),
			},
		},
		{
			name:  "local site without links",
			local: "hq",
			links: []Link{ln("east", "west", 1)},
			want:  []Route{route(0, "hq"), unreachable("east"), unreachable("west")},
		},
		{
			name:  "local only",
			local: "hq",
			want:  []Route{route(0, "hq")},
		},
		{
			name:  "large costs",
			local: "c0000",
			links: append(chain(3, M), ln("c0000", "z", M), ln("z", "c0003", M), ln("c0000", "far", M)),
			want: []Route{
				route(0, "c0000"),
				route(M, "c0000", "c0001"),
				route(M, "c0000", "far"),
				route(M, "c0000", "z"),
				route(2*M, "c0000", "c0001", "c0002"),
				route(2*M, "c0000", "z", "c0003"), // 2 hops beats 3 hops
			},
		},
		{
			name:      "override makes a multi-hop path cheaper",
			local:     "hq",
			links:     []Link{ln("hq", "target", 3), ln("hq", "a", 5), ln("a", "target", 5)},
			overrides: []Link{ln("hq", "a", 1), ln("target", "a", 0)}, // reversed pair; 0 = default 1
			want:      []Route{route(0, "hq"), route(1, "hq", "a"), route(2, "hq", "a", "target")},
		},
		{
			name:      "override makes the direct link expensive",
			local:     "hq",
			links:     []Link{ln("hq", "east", 1), ln("hq", "west", 1), ln("west", "east", 1)},
			overrides: []Link{ln("east", "hq", M)},
			want:      []Route{route(0, "hq"), route(1, "hq", "west"), route(2, "hq", "west", "east")},
		},
		{
			name:      "overriding a link of an unreachable part",
			local:     "hq",
			links:     []Link{ln("hq", "east", 1), ln("x", "y", 1)},
			overrides: []Link{ln("x", "y", 9)},
			want:      []Route{route(0, "hq"), route(1, "hq", "east"), unreachable("x"), unreachable("y")},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := mustNew(t, tt.local, tt.links)
			p, err := n.Paths(tt.overrides)
			if err != nil {
				t.Fatal(err)
			}
			if got := p.Routes(); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Routes():\n got %+v\nwant %+v", got, tt.want)
			}
			for _, w := range tt.want {
				if got, ok := p.Route(w.Site); !ok || !reflect.DeepEqual(got, w) {
					t.Errorf("Route(%q) = %+v, %v, want %+v", w.Site, got, ok, w)
				}
			}
			var wantUnreachable []string
			for _, w := range tt.want {
				if !w.Reachable {
					wantUnreachable = append(wantUnreachable, w.Site)
				}
			}
			if got := p.Unreachable(); !slices.Equal(got, wantUnreachable) {
				t.Errorf("Unreachable() = %q, want %q", got, wantUnreachable)
			}
			if _, ok := p.Route("nowhere"); ok {
				t.Error(`Route("nowhere") reports a route`)
			}
			checkPaths(t, n, p, tt.overrides)
			if len(n.Sites()) <= 8 {
				checkAgainstBruteForce(t, n, p, tt.overrides)
			}
		})
	}
}

func TestPathsLongChainOfMaxCost(t *testing.T) {
	const sites = 1000
	var links []Link
	for i := range sites - 1 {
		links = append(links, ln(fmt.Sprint(i), fmt.Sprint(i+1), MaxCost))
	}
	n := mustNew(t, "0", links)
	p, err := n.Paths(nil)
	if err != nil {
		t.Fatal(err)
	}
	r, _ := p.Route(fmt.Sprint(sites - 1))
	if want := int64(sites-1) * MaxCost; r.Cost != want || r.Hops != sites-1 || !r.Reachable {
		t.Fatalf("route to the end: cost %d hops %d, want cost %d hops %d", r.Cost, r.Hops, want, sites-1)
	}
	checkPaths(t, n, p, nil)
}

func TestPathsRandomSmallAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	names := []string{"hq", "b", "a", "z", "m", "c", "y"}
	for iter := range 3000 {
		k := 1 + rng.IntN(len(names))
		var links, overrides []Link
		for i := range k {
			for j := i + 1; j < k; j++ {
				if rng.IntN(3) == 0 {
					continue
				}
				links = append(links, ln(names[i], names[j], rng.Int64N(4)))
				if rng.IntN(4) == 0 {
					overrides = append(overrides, ln(names[j], names[i], 1+rng.Int64N(4)))
				}
			}
		}
		local := names[rng.IntN(k)]
		n := mustNew(t, local, links)
		for _, ovs := range [][]Link{nil, overrides} {
			p, err := n.Paths(ovs)
			if err != nil {
				t.Fatalf("iteration %d: %v", iter, err)
			}
			checkPaths(t, n, p, ovs)
			checkAgainstBruteForce(t, n, p, ovs)
		}
	}
}
