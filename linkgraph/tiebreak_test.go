package linkgraph

// Equal-cost paths: which one wins a tie, and that the answer does not
// depend on the order links are given in.

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// checkLexMin asserts, for every reachable site but the local one, that
// its path is the smallest, site name by site name, of the paths that
// reach it through a neighbour u at the same cost and hops: u's path plus
// the site. Together with the cost and hops checked by checkPaths, this
// proves by induction on hops that every path follows the package's
// tie-break, on graphs too large for the brute force.
func checkLexMin(t *testing.T, n *Network, p *Paths, overrides []Link) {
	t.Helper()
	for k, c := range effectiveCosts(n.Links(), overrides) {
		for _, e := range [][2]string{{k[0], k[1]}, {k[1], k[0]}} {
			u, v := e[0], e[1]
			cu, _ := p.Cost(u)
			cv, _ := p.Cost(v)
			if !cu.Reachable || cu.Cost+c != cv.Cost || cu.Hops+1 != cv.Hops {
				continue
			}
			cand := append(p.Path(u), v)
			if got := p.Path(v); slices.Compare(cand, got) < 0 {
				t.Fatalf("path to %q is %q, but %q through %q is as cheap, as short and smaller", v, got, cand, u)
			}
		}
	}
}

// TestPathsLadderTieBreak: on a ladder, every site of one rail has two
// cheapest paths of equal hops that meet only at the local site.
func TestPathsLadderTieBreak(t *testing.T) {
	for _, rungs := range []int{4, 300} {
		local, links := ladderGraph(2 * rungs)
		n := mustNew(t, local, links)
		p, err := n.Paths(nil)
		if err != nil {
			t.Fatal(err)
		}
		// "0b0" sorts before "a1": the 0b rail wins every tie.
		for i := range rungs {
			want := []string{"a0"}
			for j := 0; j <= i; j++ {
				want = append(want, fmt.Sprintf("0b%d", j))
			}
			if got := p.Path(fmt.Sprintf("0b%d", i)); !slices.Equal(got, want) {
				t.Fatalf("%d rungs: path to 0b%d = %q, want %q", rungs, i, got, want)
			}
		}
		checkPaths(t, n, p, nil)
		checkLexMin(t, n, p, nil)
		if rungs <= 4 {
			checkAgainstBruteForce(t, n, p, nil)
		}
	}
}

// TestPathsManyTiesLexMin checks the tie-break on large random networks
// where most paths tie (costs 1 or 1 to 2), seen from several sites.
func TestPathsManyTiesLexMin(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	for _, tc := range []struct {
		sites, perSite int
		maxCost        int64
	}{{500, 2, 1}, {2000, 3, 1}, {2000, 2, 2}, {3000, 1, 1}} {
		local, links := randomGraph(rng, tc.sites, tc.perSite, tc.maxCost)
		for _, from := range []string{local, links[len(links)/2].Between[0]} {
			n := mustNew(t, from, links)
			var ovs []Link
			for _, l := range links[:5] {
				ovs = append(ovs, ln(l.Between[0], l.Between[1], 2))
			}
			for _, o := range [][]Link{nil, ovs} {
				p, err := n.Paths(o)
				if err != nil {
					t.Fatal(err)
				}
				checkPaths(t, n, p, o)
				checkLexMin(t, n, p, o)
			}
		}
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
