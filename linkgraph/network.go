package linkgraph

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Network is a validated, immutable site network seen from the local site.
// Build one with [New]. All methods are safe for concurrent use.
type Network struct {
	local    string
	localIdx int32
	names    []string         // every site, sorted; the index is the site id
	index    map[string]int32 // site name -> site id
	links    []Link           // as given, with the default cost filled in
	cost     []int64          // link index -> cost
	pairs    map[pair]int32   // ordered pair of site ids -> link index
	adjStart []int32          // site id -> first entry in adj; len(names)+1 entries
	adj      []halfLink       // adjacency lists, sorted by neighbour id
}

// halfLink is one direction of a link in an adjacency list.
type halfLink struct {
	to   int32 // neighbour site id
	link int32 // link index
}

// pair is a pair of site ids with a < b.
type pair struct{ a, b int32 }

func makePair(x, y int32) pair {
	if x > y {
		x, y = y, x
	}
	return pair{x, y}
}

// New validates the local site and the links and builds the network. Its
// sites are the local site plus every site named in a link; the local site
// may have no links.
//
// Each of these is an error that names the offending value and says what is
// allowed: an empty or invalid local site name; an invalid site name in a
// link (see [CheckSiteName]); a link from a site to itself; the same pair of
// sites linked twice, in either order; a cost below 0 or above [MaxCost]
// (Cost 0 means the default, 1). All problems found are returned together,
// joined with [errors.Join].
func New(local string, links []Link) (*Network, error) {
	if len(links) > math.MaxInt32/2 {
		return nil, fmt.Errorf("too many links (%d)", len(links))
	}
	if err := checkLinks(local, links); err != nil {
		return nil, err
	}
	n := &Network{local: local, links: slices.Clone(links)}
	n.indexSites()
	n.buildAdjacency()
	return n, nil
}

// checkLinks reports every problem of the local site's name and the links:
// bad site names, a link from a site to itself, a cost out of range, the
// same pair of sites linked twice.
func checkLinks(local string, links []Link) error {
	var errs []error
	if local == "" {
		errs = append(errs, errors.New("local site name is empty: the local site must be named ("+siteNameRule+")"))
	} else if err := CheckSiteName(local); err != nil {
		errs = append(errs, fmt.Errorf("local site: %w", err))
	}
	firstLink := make(map[[2]string]int, len(links)) // ordered pair of names -> link index
	for i, l := range links {
		a, b := l.Between[0], l.Between[1]
		nameOK := true
		for j, s := range l.Between {
			if err := CheckSiteName(s); err != nil {
				errs = append(errs, fmt.Errorf("link %d (%v): %s site: %w", i, l, [2]string{"first", "second"}[j], err))
				nameOK = false
			}
		}
		if a == b && a != "" {
			errs = append(errs, fmt.Errorf("link %d (%v) links site %s to itself: a link must join two different sites", i, l, QuoteName(a)))
			nameOK = false
		}
		if l.Cost < 0 || l.Cost > MaxCost {
			errs = append(errs, fmt.Errorf("link %d (%v): cost %d is out of range: %s (or 0 for the default, 1)", i, l, l.Cost, costRange))
		}
		if !nameOK {
			continue
		}
		key := [2]string{a, b}
		if b < a {
			key = [2]string{b, a}
		}
		if j, dup := firstLink[key]; dup {
			errs = append(errs, fmt.Errorf("links %d (%v) and %d (%v) join the same pair of sites %s and %s: each pair may be linked only once",
				j, links[j], i, l, QuoteName(key[0]), QuoteName(key[1])))
			continue
		}
		firstLink[key] = i
	}
	return errors.Join(errs...)
}

// indexSites gives every site an id: sites are sorted, so that site ids
// compare like site names.
func (n *Network) indexSites() {
	names := make([]string, 0, 2*len(n.links)+1)
	names = append(names, n.local)
	for _, l := range n.links {
		names = append(names, l.Between[0], l.Between[1])
	}
	slices.Sort(names)
	n.names = slices.Clip(slices.Compact(names))
	n.index = make(map[string]int32, len(n.names))
	for i, s := range n.names {
		n.index[s] = int32(i)
	}
	n.localIdx = n.index[n.local]
}

// buildAdjacency fills in default costs and builds the link costs, the
// pair index and the adjacency lists (CSR layout, sorted by neighbour).
func (n *Network) buildAdjacency() {
	n.cost = make([]int64, len(n.links))
	n.pairs = make(map[pair]int32, len(n.links))
	n.adjStart = make([]int32, len(n.names)+1)
	ends := make([][2]int32, len(n.links))
	for i := range n.links {
		l := &n.links[i]
		switch {
		case l.Cost == 0 && l.Auto:
			l.Cost = UnmeasuredCost
		case l.Cost == 0:
			l.Cost = DefaultCost
		}
		n.cost[i] = l.Cost
		a, b := n.index[l.Between[0]], n.index[l.Between[1]]
		ends[i] = [2]int32{a, b}
		n.pairs[makePair(a, b)] = int32(i)
		n.adjStart[a+1]++
		n.adjStart[b+1]++
	}
	for i := 1; i < len(n.adjStart); i++ {
		n.adjStart[i] += n.adjStart[i-1]
	}
	n.adj = make([]halfLink, 2*len(n.links))
	fill := slices.Clone(n.adjStart[:len(n.names)])
	for i, e := range ends {
		a, b := e[0], e[1]
		n.adj[fill[a]] = halfLink{to: b, link: int32(i)}
		fill[a]++
		n.adj[fill[b]] = halfLink{to: a, link: int32(i)}
		fill[b]++
	}
	for s := range n.names {
		slices.SortFunc(n.adj[n.adjStart[s]:n.adjStart[s+1]], func(x, y halfLink) int {
			return int(x.to) - int(y.to)
		})
	}
}

// Sites returns every site name, sorted, the local site included. The
// slice is a copy.
func (n *Network) Sites() []string { return slices.Clone(n.names) }

// HasSite reports whether name is a site of the network.
func (n *Network) HasSite(name string) bool {
	_, ok := n.index[name]
	return ok
}

// Links returns the links as given to [New], in the same order, with the
// default cost 1 filled in where Cost was 0 (UnmeasuredCost for an Auto
// link). The slice is a copy.
func (n *Network) Links() []Link { return slices.Clone(n.links) }

// overrideCosts returns the link costs with the overrides applied, or an
// error naming every bad override.
func (n *Network) overrideCosts(overrides []Link) ([]int64, error) {
	var errs []error
	cost := slices.Clone(n.cost)
	seen := make(map[int32]int, len(overrides)) // link index -> override index
	for i, o := range overrides {
		if o.Auto {
			errs = append(errs, fmt.Errorf("cost override %d (%v): cost \"auto\" is for the links of the network only: an override sets a number (%s)", i, o, costRange))
		}
		if o.Cost < 0 || o.Cost > MaxCost {
			errs = append(errs, fmt.Errorf("cost override %d (%v): cost %d is out of range: %s (or 0 for the default, 1)", i, o, o.Cost, costRange))
		}
		a, b := o.Between[0], o.Between[1]
		ia, oka := n.index[a]
		ib, okb := n.index[b]
		if !oka {
			errs = append(errs, fmt.Errorf("cost override %d (%v): site %s does not exist in the site network", i, o, QuoteName(a)))
		}
		if !okb && b != a {
			errs = append(errs, fmt.Errorf("cost override %d (%v): site %s does not exist in the site network", i, o, QuoteName(b)))
		}
		if a == b {
			errs = append(errs, fmt.Errorf("cost override %d (%v) links site %s to itself: an override must name an existing link between two different sites", i, o, QuoteName(a)))
			continue
		}
		if !oka || !okb {
			continue
		}
		li, ok := n.pairs[makePair(ia, ib)]
		if !ok {
			errs = append(errs, fmt.Errorf("cost override %d (%v): there is no link between %s and %s in the site network; an override can only change the cost of an existing link",
				i, o, QuoteName(a), QuoteName(b)))
			continue
		}
		if j, dup := seen[li]; dup {
			errs = append(errs, fmt.Errorf("cost overrides %d (%v) and %d (%v) are for the same link %v: each link may be overridden only once",
				j, overrides[j], i, o, n.links[li]))
			continue
		}
		seen[li] = i
		c := o.Cost
		if c == 0 {
			c = DefaultCost
		}
		cost[li] = c
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return cost, nil
}
