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
//
// It keeps the paths as a tree rooted at the local site: each site's cost,
// hops and previous site, about 16 bytes per site. [Paths.Cost] and
// [Paths.Costs] read costs without building paths; [Paths.Path] builds one
// path on demand.
type Paths struct {
	net    *Network
	dist   []int64 // site id -> path cost; -1 if unreachable
	hops   []int32 // site id -> links crossed
	parent []int32 // site id -> previous site on the path; -1 for the local site and unreachable sites
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
	return n.pathsFrom(n.localIdx, cost), nil
}

// pathsFrom returns the cheapest paths from site src with the link costs
// cost (indexed as n.links).
func (n *Network) pathsFrom(src int32, cost []int64) *Paths {
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
	dist, hops, parent, pos, jump := p.dist, p.hops, p.parent, h.pos, h.jump

	dist[src] = 0
	h.push(src)
	for len(h.items) > 0 {
		u := h.items[0]
		heap.Pop(h)
		setJump(parent, hops, jump, u)
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
			case dv == dist[v] && hv == hops[v] && lexLess(parent, jump, u, parent[v]):
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
	return p
}

// setJump sets the jump pointer of site u, whose path just became final:
// an ancestor on its path, chosen as in a skew-binary random-access list
// (Myers, 1983) so that a search up a path takes O(log hops) steps. The
// depth (hops) of a jump depends only on the depth of u, so two sites of
// equal hops have jumps of equal hops.
func setJump(parent, hops, jump []int32, u int32) {
	p := parent[u]
	if p < 0 { // the local site
		jump[u] = u
		return
	}
	if jp := jump[p]; hops[p]-hops[jp] == hops[jp]-hops[jump[jp]] {
		jump[u] = jump[jp]
	} else {
		jump[u] = p
	}
}

// lexLess reports whether the path to site a is lexicographically smaller
// than the path to site b, for two different sites whose paths have the same
// number of hops and are final. Both paths are climbed in step, by jumps
// while the ancestors they reach still differ, else by one link, up to the
// last differing pair of sites below the shared part of the paths: the
// first difference from the local site. Site ids compare like site names.
func lexLess(parent, jump []int32, a, b int32) bool {
	for a != b && parent[a] != parent[b] {
		if ja, jb := jump[a], jump[b]; ja != jb {
			a, b = ja, jb
		} else {
			a, b = parent[a], parent[b]
		}
	}
	return a < b
}

// SiteCost is the cheapest path from the local site to one site without
// the path itself: what a caller that needs costs only reads, in memory
// proportional to the number of sites.
type SiteCost struct {
	// Site is the destination site.
	Site string
	// Cost is the path cost: 0 for the local site, and 0 too when the site
	// is unreachable, so check Reachable.
	Cost int64
	// Hops is the number of links crossed, 0 if unreachable.
	Hops int
	// Reachable reports whether any path joins the local site to Site.
	Reachable bool
}

// Cost returns the path cost and hops to site, and false if site is not a
// site of the network. It does not build the path.
func (p *Paths) Cost(site string) (SiteCost, bool) {
	i, ok := p.net.index[site]
	if !ok {
		return SiteCost{}, false
	}
	return p.siteCost(i), true
}

func (p *Paths) siteCost(i int32) SiteCost {
	c := SiteCost{Site: p.net.names[i]}
	if p.dist[i] >= 0 {
		c.Reachable, c.Cost, c.Hops = true, p.dist[i], int(p.hops[i])
	}
	return c
}

// Costs returns the path cost and hops of every site, the local site
// included, reachable sites first, then by cost, hops and site name. Its
// memory is proportional to the number of sites, however long the paths
// are.
func (p *Paths) Costs() []SiteCost {
	order := p.order()
	out := make([]SiteCost, len(order))
	for k, i := range order {
		out[k] = p.siteCost(i)
	}
	return out
}

// Path returns the sites from the local site to site, both included, or
// nil if site is unreachable or not a site of the network. It allocates
// one slice of Hops+1 names.
func (p *Paths) Path(site string) []string {
	i, ok := p.net.index[site]
	if !ok || p.dist[i] < 0 {
		return nil
	}
	return p.path(i)
}

func (p *Paths) path(i int32) []string {
	h := int(p.hops[i])
	path := make([]string, h+1)
	for k := h; k >= 0; k-- {
		path[k] = p.net.names[i]
		i = p.parent[i]
	}
	return path
}

// order returns every site id sorted by reachability (reachable first),
// then cost, hops and site name; site ids compare like site names.
func (p *Paths) order() []int32 {
	order := make([]int32, len(p.dist))
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		ra, rb := p.dist[a] >= 0, p.dist[b] >= 0
		if ra != rb {
			if ra {
				return -1
			}
			return 1
		}
		return cmp.Or(cmp.Compare(p.dist[a], p.dist[b]), cmp.Compare(p.hops[a], p.hops[b]), cmp.Compare(a, b))
	})
	return order
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
	jump  []int32 // site id -> jump pointer (see setJump), once popped
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
		h.jump = make([]int32, size)
	}
	h.pos, h.jump = h.pos[:size], h.jump[:size]
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
