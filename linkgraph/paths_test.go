package linkgraph

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"sync"
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

func TestPathsEqualCostTieBreak(t *testing.T) {
	tests := []struct {
		name  string
		local string
		links []Link
		site  string
		want  Route
	}{
		{
			// Two 2-hop paths of cost 2: via "a" beats via "b".
			name:  "diamond",
			local: "hq",
			links: []Link{ln("hq", "b", 1), ln("b", "z", 1), ln("hq", "a", 1), ln("a", "z", 1)},
			site:  "z",
			want:  route(2, "hq", "a", "z"),
		},
		{
			// Compared from the local site: hq,a,y,t beats hq,b,x,t even
			// though the last hop "x" is smaller than "y".
			name:  "first difference counts",
			local: "hq",
			links: []Link{ln("x", "t", 1), ln("b", "x", 1), ln("hq", "b", 1), ln("y", "t", 1), ln("a", "y", 1), ln("hq", "a", 1)},
			site:  "t",
			want:  route(3, "hq", "a", "y", "t"),
		},
		{
			// Equal cost, different link costs on the way.
			name:  "uneven equal cost",
			local: "hq",
			links: []Link{ln("hq", "m", 3), ln("m", "t", 1), ln("hq", "n", 1), ln("n", "t", 3)},
			site:  "t",
			want:  route(4, "hq", "m", "t"),
		},
		{
			// Equal cost: 1 hop beats 2 hops even when lexicographically larger.
			name:  "fewer hops first",
			local: "hq",
			links: []Link{ln("hq", "a", 1), ln("a", "z", 1), ln("hq", "z", 2)},
			site:  "z",
			want:  route(2, "hq", "z"),
		},
		{
			// Diverging late: hq,c,a,t vs hq,c,b,t.
			name:  "shared prefix",
			local: "hq",
			links: []Link{ln("hq", "c", 1), ln("c", "b", 1), ln("c", "a", 2), ln("b", "t", 2), ln("a", "t", 1)},
			site:  "t",
			want:  route(4, "hq", "c", "a", "t"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(1, 2))
			for range 20 {
				links := shuffled(rng, tt.links)
				n := mustNew(t, tt.local, links)
				p, err := n.Paths(nil)
				if err != nil {
					t.Fatal(err)
				}
				if got, _ := p.Route(tt.site); !reflect.DeepEqual(got, tt.want) {
					t.Fatalf("links %v: Route(%q) = %+v, want %+v", links, tt.site, got, tt.want)
				}
				checkAgainstBruteForce(t, n, p, nil)
			}
		})
	}
}

// shuffled returns the links in a random order, each with its two sites in
// a random order.
func shuffled(rng *rand.Rand, links []Link) []Link {
	out := slices.Clone(links)
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	for i := range out {
		if rng.IntN(2) == 0 {
			out[i].Between[0], out[i].Between[1] = out[i].Between[1], out[i].Between[0]
		}
	}
	return out
}

func TestPathsDeterministic(t *testing.T) {
	for _, tc := range []struct {
		sites, perSite int
		maxCost        int64
	}{
		{8, 2, 1}, {30, 3, 1}, {30, 3, 2}, {200, 4, 3}, {1000, 5, 1},
	} {
		t.Run(fmt.Sprintf("sites=%d/maxcost=%d", tc.sites, tc.maxCost), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(uint64(tc.sites), 7))
			local, links := randomGraph(rng, tc.sites, tc.perSite, tc.maxCost)
			// Look from a site other than s00000 as well.
			for _, from := range []string{local, links[0].Between[1]} {
				n := mustNew(t, from, links)
				p, err := n.Paths(nil)
				if err != nil {
					t.Fatal(err)
				}
				want := p.Routes()
				checkPaths(t, n, p, nil)
				if tc.sites <= 8 {
					checkAgainstBruteForce(t, n, p, nil)
				}
				for range 10 {
					n2 := mustNew(t, from, shuffled(rng, links))
					p2, err := n2.Paths(nil)
					if err != nil {
						t.Fatal(err)
					}
					if got := p2.Routes(); !reflect.DeepEqual(got, want) {
						for i := range got {
							if !reflect.DeepEqual(got[i], want[i]) {
								t.Fatalf("shuffled links: route %d = %+v, want %+v", i, got[i], want[i])
							}
						}
						t.Fatal("shuffled links: different routes")
					}
					if !slices.Equal(n2.Sites(), n.Sites()) {
						t.Fatal("shuffled links: different sites")
					}
				}
			}
		})
	}
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

func TestPathsConcurrent(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	local, links := randomGraph(rng, 300, 3, 10)
	n := mustNew(t, local, links)
	base, err := n.Paths(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := base.Routes()

	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				l := links[(g*20+i)%len(links)]
				ovs := []Link{ln(l.Between[0], l.Between[1], 1+int64(g))}
				p, err := n.Paths(ovs)
				if err != nil {
					t.Error(err)
					return
				}
				checkPaths(t, n, p, ovs)
				q, err := n.Paths(nil)
				if err != nil {
					t.Error(err)
					return
				}
				if !reflect.DeepEqual(q.Routes(), want) {
					t.Error("Paths(nil) changed while other goroutines used overrides")
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestPathsLargeGraph(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 10000))
	local, links := randomGraph(rng, 10000, 5, 100)
	n := mustNew(t, local, links)
	p, err := n.Paths(nil)
	if err != nil {
		t.Fatal(err)
	}
	if u := p.Unreachable(); len(u) != 0 {
		t.Fatalf("%d unreachable sites in a connected graph", len(u))
	}
	checkPaths(t, n, p, nil)
}
