package linkgraph

import (
	"cmp"
	"container/heap"
	"slices"
	"sync"
)

// Paths holds the cheapest path from the local site to every site of a
// [Network], as computed by [Network.Paths]. It is immutable and safe for
// concurrent use.
type Paths struct {
	net    *Network
	dist   []int64 // site id -> path cost; -1 if unreachable
	hops   []int32 // site id -> links crossed
	parent []int32 // site id -> previous site on the path; -1 for the local site and unreachable sites
}

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

// Paths computes the cheapest path from the local site to every site with
// Dijkstra's algorithm; equal-cost paths are resolved as described in the
// package documentation.
//
// overrides replaces the costs of some existing links for this computation
// only, e.g. for one service; the network itself is never changed. An
// override's Cost 0 means the default cost 1, as in [New]. An override is
// an error, naming it, if it names a site that does not exist, links a site
// to itself, names a pair of sites that are not linked, repeats a pair
// already overridden (in either order), or has a cost below 0 or above
// [MaxCost].
func (n *Network) Paths(overrides []Link) (*Paths, error) {
	cost := n.cost
	if len(overrides) > 0 {
		var err error
		if cost, err = n.overrideCosts(overrides); err != nil {
			return nil, err
		}
	}
	size := len(n.names)
	p := &Paths{net: n, dist: make([]int64, size)}
	state := make([]int32, 2*size)
	p.hops, p.parent = state[:size:size], state[size:]
	for i := range size {
		p.dist[i] = -1
		p.parent[i] = -1
	}

	h := getHeap(size)
	defer putHeap(h)
	h.dist, h.hops = p.dist, p.hops
	dist, hops, parent, pos := p.dist, p.hops, p.parent, h.pos

	src := n.localIdx
	dist[src] = 0
	h.push(src)
	for len(h.items) > 0 {
		u := h.items[0]
		heap.Pop(h)
		du, hv := dist[u], hops[u]+1
		for _, e := range n.adj[n.adjStart[u]:n.adjStart[u+1]] {
			v := e.to
			if pos[v] == popped {
				continue
			}
			dv := du + cost[e.link]
			switch {
			case dist[v] < 0 || dv < dist[v] || dv == dist[v] && hv < hops[v]:
				// New, cheaper, or as cheap with fewer hops.
			case dv == dist[v] && hv == hops[v] && p.lexLess(u, parent[v]):
				// Same cost and hops, lexicographically smaller path: the
				// heap key (cost, hops) does not change.
				parent[v] = u
				continue
			default:
				continue
			}
			dist[v], hops[v], parent[v] = dv, hv, u
			if pos[v] == unseen {
				h.push(v)
			} else {
				heap.Fix(h, int(pos[v]))
			}
		}
	}
	return p, nil
}

// lexLess reports whether the path to site a is lexicographically smaller
// than the path to site b, for two different sites whose paths have the same
// number of hops and are final. Walking both paths back in step until they
// meet, the last differing pair of sites is the first difference from the
// local site; site ids compare like site names.
func (p *Paths) lexLess(a, b int32) bool {
	less := false
	for a != b {
		less = a < b
		a, b = p.parent[a], p.parent[b]
	}
	return less
}

// Route returns the route to site, and false if site is not a site of the
// network.
func (p *Paths) Route(site string) (Route, bool) {
	i, ok := p.net.index[site]
	if !ok {
		return Route{}, false
	}
	return p.route(i), true
}

func (p *Paths) route(i int32) Route {
	r := Route{Site: p.net.names[i]}
	if p.dist[i] < 0 {
		return r
	}
	r.Reachable = true
	r.Cost = p.dist[i]
	r.Hops = int(p.hops[i])
	r.Path = make([]string, r.Hops+1)
	for k := r.Hops; k >= 0; k-- {
		r.Path[k] = p.net.names[i]
		i = p.parent[i]
	}
	return r
}

// Routes returns the route to every site, the local site included, sorted
// by reachability (reachable first), then cost, hops and site name.
func (p *Paths) Routes() []Route {
	routes := make([]Route, len(p.net.names))
	for i := range routes {
		routes[i] = p.route(int32(i))
	}
	slices.SortFunc(routes, func(a, b Route) int {
		if a.Reachable != b.Reachable {
			if a.Reachable {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(a.Cost, b.Cost), cmp.Compare(a.Hops, b.Hops), cmp.Compare(a.Site, b.Site))
	})
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

// Positions of sites in the heap, besides their index in it.
const (
	unseen = -1 // never queued
	popped = -2 // done: its path is final
)

// siteHeap is a priority queue of site ids keyed by (cost, hops, id), with
// each site's position tracked so that heap.Fix can lower its key.
type siteHeap struct {
	items []int32
	pos   []int32 // site id -> index in items, or unseen, or popped
	dist  []int64
	hops  []int32
}

func (h *siteHeap) Len() int { return len(h.items) }

func (h *siteHeap) Less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	if h.dist[a] != h.dist[b] {
		return h.dist[a] < h.dist[b]
	}
	if h.hops[a] != h.hops[b] {
		return h.hops[a] < h.hops[b]
	}
	return a < b
}

func (h *siteHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.pos[h.items[i]] = int32(i)
	h.pos[h.items[j]] = int32(j)
}

// Push implements heap.Interface; Paths uses push, which does not box.
func (h *siteHeap) Push(x any) {
	v := x.(int32)
	h.pos[v] = int32(len(h.items))
	h.items = append(h.items, v)
}

// Pop implements heap.Interface. It returns nil rather than the site id to
// avoid boxing: Paths reads items[0] before calling heap.Pop.
func (h *siteHeap) Pop() any {
	last := len(h.items) - 1
	h.pos[h.items[last]] = popped
	h.items = h.items[:last]
	return nil
}

// push queues site v; it is heap.Push without boxing v in an interface.
func (h *siteHeap) push(v int32) {
	h.pos[v] = int32(len(h.items))
	h.items = append(h.items, v)
	heap.Fix(h, len(h.items)-1)
}

// heapPool recycles the scratch space of Paths.
var heapPool sync.Pool

func getHeap(size int) *siteHeap {
	h, _ := heapPool.Get().(*siteHeap)
	if h == nil {
		h = new(siteHeap)
	}
	if cap(h.pos) < size {
		h.pos = make([]int32, size)
	}
	h.pos = h.pos[:size]
	for i := range h.pos {
		h.pos[i] = unseen
	}
	h.items = h.items[:0]
	return h
}

func putHeap(h *siteHeap) {
	h.dist, h.hops = nil, nil
	heapPool.Put(h)
}
