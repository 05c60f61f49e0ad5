package costlb

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/costlb/costlb/costnum"
	"github.com/costlb/costlb/linkgraph"
)

// MaxReadyAnswer is the most a readiness answer may weigh, in bytes: what
// every site reads of a peer's answer. An answer never exceeds it.
const MaxReadyAnswer = 64 << 10

// WireRoute is a route as a peer's readiness answer gives it, before it is
// checked: the answer comes from another site and is not trusted.
type WireRoute struct {
	Sites []string        `json:"sites"`
	Cost  json.RawMessage `json:"cost"`
}

// costRule says what a route's cost may be, for messages.
var costRule = fmt.Sprintf("a route's cost must be a whole number from 0 to %d", MaxRouteCost)

// UsableRoutes returns the routes of a gateway's readiness answer that the
// local site can use, normalized (NormalizeRoutes), and why each answered
// route that is not well formed was dropped. A route is well formed when it
// names 1 to MaxRouteHops sites, each a valid site name (the config's
// rules), and has a whole cost from 0 to MaxRouteCost. Well-formed routes
// that pass through local are dropped without a word: that is how path
// vectors break loops.
func UsableRoutes(answer []WireRoute, local string) (usable []Route, dropped []string) {
	for i, w := range answer {
		r, err := checkRoute(w)
		if err != nil {
			dropped = append(dropped, fmt.Sprintf("route %d of %d: %v", i+1, len(answer), err))
			continue
		}
		if !slices.Contains(r.Sites, local) {
			usable = append(usable, r)
		}
	}
	return NormalizeRoutes(usable), dropped
}

// checkRoute checks one answered route.
func checkRoute(w WireRoute) (Route, error) {
	if len(w.Sites) == 0 {
		return Route{}, fmt.Errorf("names no site: a route names 1 to %d sites", MaxRouteHops)
	}
	if len(w.Sites) > MaxRouteHops {
		return Route{}, fmt.Errorf("names %d sites: a route names 1 to %d sites", len(w.Sites), MaxRouteHops)
	}
	for _, s := range w.Sites {
		if err := linkgraph.CheckSiteName(s); err != nil {
			return Route{}, err
		}
	}
	cost, err := ParseRouteCost(w.Cost)
	if err != nil {
		return Route{}, fmt.Errorf("sites %s: %w", linkgraph.QuoteName(fmt.Sprint(w.Sites)), err)
	}
	return Route{Sites: w.Sites, Cost: cost}, nil
}

// ParseRouteCost reads an answered route's cost: a JSON number whose exact
// value is a whole number from 0 to MaxRouteCost (costnum's one syntax for
// costs). The error names the value and why it is refused.
func ParseRouteCost(raw json.RawMessage) (int64, error) {
	s := string(raw)
	if len(raw) == 0 || s == "null" {
		return 0, fmt.Errorf("no cost: %s", costRule)
	}
	cost, err := costnum.Parse(s, 0, MaxRouteCost)
	if err != nil {
		shown := s // valid JSON (the answer parsed): printable, as the peer wrote it
		if len(shown) > 64 {
			shown = shown[:64] + "…"
		}
		return 0, fmt.Errorf("cost %s %v: %s", shown, err, costRule)
	}
	return cost, nil
}
