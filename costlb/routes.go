package costlb

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// A route names, in order, the sites whose costlb a connection would pass
// through, ending with the site of the backend that would serve it: ["B"]
// for B's own backend, ["B", "C"] through B's gateway to C. Routes are path
// vectors: a site drops every route that already names it, so no ring of
// gateways can keep a dead service alive.

// MaxRoutes caps the routes a service offers: the cheapest are kept (cost,
// then hops, then names). A mesh of gateways has as many loop-free routes
// as it has simple paths; the cheapest few say all a peer needs (whether
// it can be served, through which sites and at what cost), and a peer that
// gets fewer alternatives only ever sees a service as less ready, never as
// ready when it is not.
const MaxRoutes = 32

// MaxRouteHops caps the sites of a route. A site does not offer a route
// that would name more, and refuses an answered route that names more: a
// route grows by one site per gateway, and the cap keeps every answer
// small whatever the chain's length.
const MaxRouteHops = 16

// MaxRouteCost caps a route's cost, 2^40: a sum of costs saturates at it,
// so it never overflows, and an answered cost above it is refused. It is
// far above any real path (a path of 16 links of the largest link cost
// costs less than 2^35).
const MaxRouteCost int64 = 1 << 40

// Route is one route of a service with its cost as the site that offers it
// sees it: what that site pays from itself to the backend's site.
type Route struct {
	Sites []string `json:"sites"`
	Cost  int64    `json:"cost"`
}

// String shows the route as "A→B→C (cost 5)".
func (r Route) String() string {
	return fmt.Sprintf("%s (cost %d)", strings.Join(r.Sites, "→"), r.Cost)
}

// AddCost returns a + b for non-negative costs, saturating at
// MaxRouteCost.
func AddCost(a, b int64) int64 {
	if a >= MaxRouteCost || b >= MaxRouteCost || a+b >= MaxRouteCost {
		return MaxRouteCost
	}
	return a + b
}

// ViaGateway returns the routes a gateway's usable routes give the local
// site, whose path cost to the gateway's site is siteCost: each prefixed
// with local, at siteCost plus its cost. A route that would name more than
// MaxRouteHops sites is left out.
func ViaGateway(local string, siteCost int64, usable []Route) []Route {
	out := make([]Route, 0, len(usable))
	for _, r := range usable {
		if len(r.Sites)+1 > MaxRouteHops {
			continue
		}
		out = append(out, Route{Sites: append([]string{local}, r.Sites...), Cost: AddCost(siteCost, r.Cost)})
	}
	return out
}

// Direct returns the route of a plain backend in site, seen from local at
// path cost cost: [local] for a local backend, [local, site] otherwise.
func Direct(local, site string, cost int64) Route {
	if site == local {
		return Route{Sites: []string{local}, Cost: cost}
	}
	return Route{Sites: []string{local, site}, Cost: cost}
}

// compareRoutes orders routes cheapest first, then by hops, then by site
// names.
func compareRoutes(a, b Route) int {
	if c := cmp.Compare(a.Cost, b.Cost); c != 0 {
		return c
	}
	if c := cmp.Compare(len(a.Sites), len(b.Sites)); c != 0 {
		return c
	}
	return slices.Compare(a.Sites, b.Sites)
}

// NormalizeRoutes sorts routes cheapest first (cost, then hops, then site
// names), keeps the cheapest of routes through the same sites and at most
// MaxRoutes. It works in place: routes is sorted and its elements past the
// result's length may be cleared.
func NormalizeRoutes(routes []Route) []Route {
	slices.SortFunc(routes, compareRoutes)
	kept := routes[:0]
	for _, r := range routes {
		if !slices.ContainsFunc(kept, func(k Route) bool { return slices.Equal(k.Sites, r.Sites) }) {
			kept = append(kept, r)
		}
	}
	clear(routes[len(kept):])
	if len(kept) > MaxRoutes {
		kept = kept[:MaxRoutes]
	}
	return kept
}

// Cheapest returns the lowest cost among routes, which NormalizeRoutes
// sorted, and whether there is one.
func Cheapest(routes []Route) (int64, bool) {
	if len(routes) == 0 {
		return 0, false
	}
	return routes[0].Cost, true
}
