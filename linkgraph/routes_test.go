package linkgraph

import "fmt"

// The whole route of every site, and a few lookups, for the tests only:
// production code reads costs (Paths.Costs, Paths.Cost) and builds a path
// (Paths.Path) only for a site it shows, since every route of a chain of n
// sites holds about n²/2 names.

// Route is the cheapest path from the local site to one site.
type Route struct {
	// Site is the destination site.
	Site string
	// Cost is the sum of the link costs along Path: 0 for the local site.
	// It is 0 too when the site is unreachable, so check Reachable.
	Cost int64
	// Hops is the number of links crossed: len(Path)-1, or 0 if unreachable.
	Hops int
	// Path lists the sites from the local site to Site, both included;
	// nil if the site is unreachable.
	Path []string
	// Reachable reports whether any path joins the local site to Site.
	Reachable bool
}

// Route returns the route to site, path included, and false if site is not
// a site of the network.
func (p *Paths) Route(site string) (Route, bool) {
	i, ok := p.net.index[site]
	if !ok {
		return Route{}, false
	}
	return p.route(i), true
}

func (p *Paths) route(i int32) Route {
	c := p.siteCost(i)
	r := Route{Site: c.Site, Cost: c.Cost, Hops: c.Hops, Reachable: c.Reachable}
	if c.Reachable {
		r.Path = p.path(i)
	}
	return r
}

// Routes returns the route to every site, the local site included, sorted
// by reachability (reachable first), then cost, hops and site name.
//
// Every route carries its whole path, so the memory grows with the number
// of sites times their hops: about n²/2 names for a chain of n sites. On a
// large network use [Paths.Costs], and [Paths.Path] for the few sites whose
// path is needed.
func (p *Paths) Routes() []Route {
	order := p.order()
	routes := make([]Route, len(order))
	for k, i := range order {
		routes[k] = p.route(i)
	}
	return routes
}

// Unreachable returns the sites no path joins to the local site, sorted.
func (p *Paths) Unreachable() []string {
	var out []string
	for i, d := range p.dist {
		if d < 0 {
			out = append(out, p.net.names[i])
		}
	}
	return out
}

// Local returns the name of the local site.
func (n *Network) Local() string { return n.local }

// LinkCost returns the cost of the link between sites a and b, in either
// order, and whether there is such a link.
func (n *Network) LinkCost(a, b string) (int64, bool) {
	ia, oka := n.index[a]
	ib, okb := n.index[b]
	if !oka || !okb {
		return 0, false
	}
	li, ok := n.pairs[makePair(ia, ib)]
	if !ok {
		return 0, false
	}
	return n.cost[li], true
}

// String describes the network briefly, e.g. for logs.
func (n *Network) String() string {
	return fmt.Sprintf("site network from %s: %d sites, %d links", QuoteName(n.local), len(n.names), len(n.links))
}
