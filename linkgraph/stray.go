package linkgraph

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Use is what one service uses of the network: the sites of its backends
// and its own link cost overrides (as given to [Network.Paths]).
type Use struct {
	Sites     []string
	Overrides []Link
}

// StrayLink is a link that no service can use, and why.
type StrayLink struct {
	Link Link
	Why  string
}

// StrayLinks returns the links of the network that none of the services
// described by uses can use, in the order of the links:
//
//   - a link that no path from the local site reaches;
//   - a link that does not name the local site and names a site that is
//     neither a backend's site nor on a cheapest path from the local site to
//     one, under that service's overrides (any of equally cheap paths).
//
// A link that names the local site is never stray: the sites it joins reach
// this site over it, as a chain of gateways does. A stray link is not an
// error: the network may describe more than this site uses, as when several
// sites share it.
func (n *Network) StrayLinks(uses []Use) []StrayLink {
	base, _ := n.Paths(nil) // no overrides: cannot fail
	used := n.usedSites(uses)
	var out []StrayLink
	for i, l := range n.links {
		a, b := n.index[l.Between[0]], n.index[l.Between[1]]
		switch {
		case base.dist[a] < 0:
			out = append(out, StrayLink{l, "no path from the local site " + QuoteName(n.local) + " reaches it"})
		case a == n.localIdx || b == n.localIdx:
		case !used[a] || !used[b]:
			var idle []string
			for _, s := range []int32{a, b} {
				if !used[s] {
					idle = append(idle, QuoteName(n.names[s]))
				}
			}
			what := "site " + idle[0] + " has no backend of any service and is"
			if len(idle) == 2 {
				what = "sites " + idle[0] + " and " + idle[1] + " have no backend of any service and are"
			}
			out = append(out, StrayLink{n.links[i], what + " on no cheapest path from the local site " + QuoteName(n.local) + " to a backend's site"})
		}
	}
	return out
}

// usedSites marks, by site id, the local site and every site on a cheapest
// path from it to a site of a use, under that use's overrides. Site v is on
// a cheapest path to t when cost(local, v) + cost(v, t) = cost(local, t).
func (n *Network) usedSites(uses []Use) []bool {
	used := make([]bool, len(n.names))
	used[n.localIdx] = true
	// Uses with the same overrides share their path computations.
	groups := map[string][]string{}
	overrides := map[string][]Link{}
	for _, u := range uses {
		k := overrideKey(u.Overrides)
		groups[k] = append(groups[k], u.Sites...)
		overrides[k] = u.Overrides
	}
	keys := make([]string, 0, len(groups))
	for k := range groups {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		cost := n.cost
		if ov := overrides[k]; len(ov) > 0 {
			// a service refuses bad overrides; count it without them
			if c, err := n.overrideCosts(ov); err == nil {
				cost = c
			}
		}
		from := n.pathsFrom(n.localIdx, cost)
		targets := slices.Clone(groups[k])
		slices.Sort(targets)
		for _, t := range slices.Compact(targets) {
			ti, ok := n.index[t]
			if !ok || from.dist[ti] <= 0 { // unknown, unreachable or local
				continue
			}
			// links are undirected: the paths from t give cost(v, t)
			to := n.pathsFrom(ti, cost)
			for v := range used {
				if from.dist[v] >= 0 && to.dist[v] >= 0 && from.dist[v]+to.dist[v] == from.dist[ti] {
					used[v] = true
				}
			}
		}
	}
	return used
}

// overrideKey identifies a set of overrides, whatever their order.
func overrideKey(overrides []Link) string {
	keys := make([]string, len(overrides))
	for i, o := range overrides {
		a, b := o.Between[0], o.Between[1]
		if b < a {
			a, b = b, a
		}
		keys[i] = strconv.Quote(a) + strconv.Quote(b) + strconv.FormatInt(o.Cost, 10)
	}
	slices.Sort(keys)
	return strings.Join(keys, ",")
}

// String shows the stray link and why, for logs and tests.
func (s StrayLink) String() string { return fmt.Sprintf("link %v: %s", s.Link, s.Why) }
