package costlb

import (
	"slices"
	"strings"
)

// A route names, in order, the sites whose costlb a connection would pass
// through, ending with the site of the backend that would serve it: ["B"]
// for B's own backend, ["B", "C"] through B's gateway to C. Routes are path
// vectors: a site drops every route that already names it, so no ring of
// gateways can keep a dead service alive.

// MaxRoutes caps the routes a service offers: the shortest are kept. A mesh
// of gateways has as many loop-free routes as it has simple paths; the
// shortest few say all a peer needs (whether it can be served, and through
// which sites), and a peer that gets fewer alternatives only ever sees a
// service as less ready, never as ready when it is not.
const MaxRoutes = 32

// UsableRoutes returns the routes of a gateway's readiness answer that the
// local site can use: well formed (non-empty, no empty site name) and not
// passing through local. It never returns more than MaxRoutes.
func UsableRoutes(answer [][]string, local string) [][]string {
	var out [][]string
	for _, r := range answer {
		if len(r) == 0 || slices.Contains(r, "") || slices.Contains(r, local) {
			continue
		}
		out = append(out, r)
	}
	return NormalizeRoutes(out)
}

// ViaGateway returns the routes a gateway's usable routes give the local
// site: each prefixed with local.
func ViaGateway(local string, usable [][]string) [][]string {
	out := make([][]string, len(usable))
	for i, r := range usable {
		out[i] = append([]string{local}, r...)
	}
	return out
}

// Direct returns the route of a plain backend in site, seen from local:
// [local] for a local backend, [local, site] otherwise.
func Direct(local, site string) []string {
	if site == local {
		return []string{local}
	}
	return []string{local, site}
}

// NormalizeRoutes sorts routes, shortest first and then by site names,
// drops duplicates and keeps at most MaxRoutes. It works in place: routes
// is sorted and its elements past the result's length may be cleared.
func NormalizeRoutes(routes [][]string) [][]string {
	slices.SortFunc(routes, func(a, b []string) int {
		if len(a) != len(b) {
			return len(a) - len(b)
		}
		for i := range a {
			if c := strings.Compare(a[i], b[i]); c != 0 {
				return c
			}
		}
		return 0
	})
	routes = slices.CompactFunc(routes, slices.Equal[[]string])
	if len(routes) > MaxRoutes {
		routes = routes[:MaxRoutes]
	}
	return routes
}
