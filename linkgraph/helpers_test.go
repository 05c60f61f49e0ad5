package linkgraph

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// route builds the expected reachable Route for path, ending at the site.
func route(cost int64, path ...string) Route {
	return Route{Site: path[len(path)-1], Cost: cost, Hops: len(path) - 1, Path: path, Reachable: true}
}

// unreachable builds the expected Route of an unreachable site.
func unreachable(site string) Route { return Route{Site: site} }

// ln is a link literal.
func ln(a, b string, cost int64) Link { return Link{Between: [2]string{a, b}, Cost: cost} }

// mustNew builds a network or fails the test.
func mustNew(t testing.TB, local string, links []Link) *Network {
	t.Helper()
	n, err := New(local, links)
	if err != nil {
		t.Fatalf("New(%q, %v): %v", local, links, err)
	}
	return n
}

// effectiveCosts returns the cost of every link by its ordered pair of
// names, with defaults and then the overrides applied.
func effectiveCosts(links, overrides []Link) map[[2]string]int64 {
	key := func(l Link) [2]string {
		a, b := l.Between[0], l.Between[1]
		if b < a {
			a, b = b, a
		}
		return [2]string{a, b}
	}
	costs := make(map[[2]string]int64)
	for _, l := range append(slices.Clone(links), overrides...) {
		c := l.Cost
		if c == 0 {
			c = 1
		}
		costs[key(l)] = c
	}
	return costs
}

// bruteForce enumerates every simple path from local and returns, for each
// reachable site, the best route by (cost, hops, lexicographic path).
func bruteForce(local string, costs map[[2]string]int64) map[string]Route {
	adj := make(map[string][]string)
	for k := range costs {
		adj[k[0]] = append(adj[k[0]], k[1])
		adj[k[1]] = append(adj[k[1]], k[0])
	}
	cost := func(a, b string) int64 {
		if b < a {
			a, b = b, a
		}
		return costs[[2]string{a, b}]
	}
	best := make(map[string]Route)
	onPath := map[string]bool{local: true}
	path := []string{local}
	var walk func(at string, c int64)
	walk = func(at string, c int64) {
		cand := Route{Site: at, Cost: c, Hops: len(path) - 1, Path: slices.Clone(path), Reachable: true}
		if old, ok := best[at]; !ok || c < old.Cost || c == old.Cost && (cand.Hops < old.Hops ||
			cand.Hops == old.Hops && slices.Compare(cand.Path, old.Path) < 0) {
			best[at] = cand
		}
		for _, next := range adj[at] {
			if onPath[next] {
				continue
			}
			onPath[next] = true
			path = append(path, next)
			walk(next, c+cost(at, next))
			path = path[:len(path)-1]
			onPath[next] = false
		}
	}
	walk(local, 0)
	return best
}

// checkAgainstBruteForce asserts that every route of p is exactly the
// brute-force best route.
func checkAgainstBruteForce(t testing.TB, n *Network, p *Paths, overrides []Link) {
	t.Helper()
	want := bruteForce(n.Local(), effectiveCosts(n.Links(), overrides))
	for _, s := range n.Sites() {
		got, ok := p.Route(s)
		if !ok {
			t.Fatalf("Route(%q): unknown site", s)
		}
		w, reachable := want[s]
		if !reachable {
			w = unreachable(s)
		}
		if !routeEqual(got, w) {
			t.Fatalf("links %v overrides %v: Route(%q) = %+v, brute force %+v", n.Links(), overrides, s, got, w)
		}
	}
}

func routeEqual(a, b Route) bool {
	return a.Site == b.Site && a.Cost == b.Cost && a.Hops == b.Hops && a.Reachable == b.Reachable && slices.Equal(a.Path, b.Path)
}

// checkPaths asserts the invariants of p computed on n with overrides.
func checkPaths(t testing.TB, n *Network, p *Paths, overrides []Link) {
	t.Helper()
	costs := effectiveCosts(n.Links(), overrides)
	cost := func(a, b string) (int64, bool) {
		if b < a {
			a, b = b, a
		}
		c, ok := costs[[2]string{a, b}]
		return c, ok
	}
	sites := n.Sites()
	routes := p.Routes()
	if len(routes) != len(sites) {
		t.Fatalf("Routes() has %d routes for %d sites", len(routes), len(sites))
	}
	var wantUnreachable []string
	for _, s := range sites {
		r, ok := p.Route(s)
		if !ok || r.Site != s {
			t.Fatalf("Route(%q) = %+v, %v", s, r, ok)
		}
		if !r.Reachable {
			wantUnreachable = append(wantUnreachable, s)
			if r.Cost != 0 || r.Hops != 0 || r.Path != nil {
				t.Fatalf("unreachable Route(%q) = %+v", s, r)
			}
			continue
		}
		if len(r.Path) != r.Hops+1 || r.Path[0] != n.Local() || r.Path[r.Hops] != s {
			t.Fatalf("Route(%q) = %+v: bad path", s, r)
		}
		var sum int64
		seen := map[string]bool{}
		for i, hop := range r.Path {
			if seen[hop] {
				t.Fatalf("Route(%q) = %+v: path repeats %q", s, r, hop)
			}
			seen[hop] = true
			if i == 0 {
				continue
			}
			c, ok := cost(r.Path[i-1], hop)
			if !ok {
				t.Fatalf("Route(%q) = %+v: %q and %q are not linked", s, r, r.Path[i-1], hop)
			}
			sum += c
		}
		if sum != r.Cost {
			t.Fatalf("Route(%q) = %+v: link costs along the path sum to %d", s, r, sum)
		}
		if s == n.Local() && (r.Cost != 0 || r.Hops != 0) {
			t.Fatalf("local Route(%q) = %+v", s, r)
		}
	}
	// No link can improve any route (Bellman's condition).
	for k, c := range costs {
		a, _ := p.Route(k[0])
		b, _ := p.Route(k[1])
		if a.Reachable != b.Reachable {
			t.Fatalf("link %q–%q joins reachable and unreachable sites", k[0], k[1])
		}
		if a.Reachable && (b.Cost > a.Cost+c || a.Cost > b.Cost+c) {
			t.Fatalf("link %q–%q (cost %d) improves %+v or %+v", k[0], k[1], c, a, b)
		}
	}
	if got := p.Unreachable(); !slices.Equal(got, wantUnreachable) {
		t.Fatalf("Unreachable() = %q, want %q", got, wantUnreachable)
	}
	if !slices.IsSortedFunc(routes, func(a, b Route) int {
		switch {
		case a.Reachable != b.Reachable:
			if a.Reachable {
				return -1
			}
			return 1
		case a.Cost != b.Cost:
			return int(min(max(a.Cost-b.Cost, -1), 1))
		case a.Hops != b.Hops:
			return a.Hops - b.Hops
		}
		return strings.Compare(a.Site, b.Site)
	}) {
		t.Fatalf("Routes() not sorted: %+v", routes)
	}
}

// randomGraph returns a connected random network description: a random
// spanning tree plus extra random links, about linksPerSite links per site,
// costs from 1 to maxCost.
func randomGraph(rng *rand.Rand, sites, linksPerSite int, maxCost int64) (string, []Link) {
	name := func(i int) string { return fmt.Sprintf("s%05d", i) }
	seen := make(map[[2]int]bool)
	var links []Link
	add := func(a, b int) {
		if a == b {
			return
		}
		if b < a {
			a, b = b, a
		}
		if seen[[2]int{a, b}] {
			return
		}
		seen[[2]int{a, b}] = true
		links = append(links, ln(name(a), name(b), 1+rng.Int64N(maxCost)))
	}
	for i := 1; i < sites; i++ {
		add(i, rng.IntN(i))
	}
	want := linksPerSite * sites
	if maxLinks := sites * (sites - 1) / 2; want > maxLinks {
		want = maxLinks
	}
	for len(links) < want {
		add(rng.IntN(sites), rng.IntN(sites))
	}
	// Shuffle so the spanning tree is not first.
	rng.Shuffle(len(links), func(i, j int) { links[i], links[j] = links[j], links[i] })
	return name(0), links
}
