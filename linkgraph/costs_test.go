package linkgraph

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
)

// checkCostsAgree asserts that Costs, Cost and Path say what Routes and
// Route say, site by site and in the same order.
func checkCostsAgree(t *testing.T, n *Network, p *Paths) {
	t.Helper()
	routes, costs := p.Routes(), p.Costs()
	if len(costs) != len(routes) {
		t.Fatalf("Costs() has %d entries, Routes() %d", len(costs), len(routes))
	}
	for k, r := range routes {
		want := SiteCost{Site: r.Site, Cost: r.Cost, Hops: r.Hops, Reachable: r.Reachable}
		if costs[k] != want {
			t.Fatalf("Costs()[%d] = %+v, Routes()[%d] = %+v", k, costs[k], k, r)
		}
		if c, ok := p.Cost(r.Site); !ok || c != want {
			t.Fatalf("Cost(%q) = %+v, %v; want %+v", r.Site, c, ok, want)
		}
		if got := p.Path(r.Site); !slices.Equal(got, r.Path) || (got == nil) != (r.Path == nil) {
			t.Fatalf("Path(%q) = %q, route path %q", r.Site, got, r.Path)
		}
	}
	if c, ok := p.Cost("nowhere"); ok || c != (SiteCost{}) {
		t.Errorf(`Cost("nowhere") = %+v, %v`, c, ok)
	}
	if got := p.Path("nowhere"); got != nil {
		t.Errorf(`Path("nowhere") = %q`, got)
	}
	if len(n.Sites()) != len(costs) {
		t.Errorf("Costs() has %d entries for %d sites", len(costs), len(n.Sites()))
	}
}

func TestCostsAgreeWithRoutes(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	for _, tc := range []struct {
		sites, perSite int
		maxCost        int64
	}{
		{1, 0, 1}, {2, 1, 1}, {8, 2, 1}, {30, 3, 2}, {300, 4, 3}, {2000, 3, 100},
	} {
		t.Run(fmt.Sprintf("sites=%d/maxcost=%d", tc.sites, tc.maxCost), func(t *testing.T) {
			local, links := randomGraph(rng, tc.sites, tc.perSite, tc.maxCost)
			// an island, so that some sites are unreachable
			links = append(links, ln("zz-island-a", "zz-island-b", 1))
			n := mustNew(t, local, links)
			p, err := n.Paths(nil)
			if err != nil {
				t.Fatal(err)
			}
			checkCostsAgree(t, n, p)
			if len(links) > 1 {
				p, err = n.Paths([]Link{ln(links[0].Between[1], links[0].Between[0], MaxCost)})
				if err != nil {
					t.Fatal(err)
				}
				checkCostsAgree(t, n, p)
			}
		})
	}
}

func TestCostsOfAChain(t *testing.T) {
	const sites = 5000
	local, links := chainGraph(sites)
	n := mustNew(t, local, links)
	p, err := n.Paths(nil)
	if err != nil {
		t.Fatal(err)
	}
	costs := p.Costs()
	if len(costs) != sites {
		t.Fatalf("Costs() has %d entries, want %d", len(costs), sites)
	}
	for k, c := range costs {
		want := SiteCost{Site: fmt.Sprintf("c%d", k), Cost: int64(k), Hops: k, Reachable: true}
		if c != want {
			t.Fatalf("Costs()[%d] = %+v, want %+v", k, c, want)
		}
	}
	last := fmt.Sprintf("c%d", sites-1)
	path := p.Path(last)
	if len(path) != sites || path[0] != "c0" || path[sites-1] != last || path[sites/2] != fmt.Sprintf("c%d", sites/2) {
		t.Fatalf("Path(%q): %d sites, from %q to %q", last, len(path), path[0], path[len(path)-1])
	}
	if r, _ := p.Route(last); !reflect.DeepEqual(r.Path, path) {
		t.Fatalf("Route(%q).Path differs from Path(%q)", last, last)
	}
}

// TestCostsAllocateNoPaths: Costs allocates a fixed number of slices
// whatever the length of the paths, Cost none and Path one, so that
// reading a long chain's costs costs memory proportional to its sites.
func TestCostsAllocateNoPaths(t *testing.T) {
	local, links := chainGraph(3000)
	n := mustNew(t, local, links)
	p, err := n.Paths(nil)
	if err != nil {
		t.Fatal(err)
	}
	if a := testing.AllocsPerRun(5, func() { p.Costs() }); a > 2 {
		t.Errorf("Costs() on a 3000-site chain: %v allocations, want at most 2", a)
	}
	if a := testing.AllocsPerRun(5, func() { p.Cost("c2999") }); a != 0 {
		t.Errorf("Cost: %v allocations, want 0", a)
	}
	if a := testing.AllocsPerRun(5, func() { p.Path("c2999") }); a != 1 {
		t.Errorf("Path: %v allocations, want 1", a)
	}
}
