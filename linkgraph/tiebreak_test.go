package linkgraph

import (
	"fmt"
	"math/rand/v2"
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
