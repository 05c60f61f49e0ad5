package module

import (
	"sync/atomic"

	"go.uber.org/zap"

	"github.com/costlb/costlb/linkgraph"
)

// SiteCosts are the path costs from the local site to every site, for one
// service (with its link cost overrides) or for the app, kept up to date
// with the measured costs of the auto links: each site's cost is an atomic
// that a balancer reads on every pick (costlb.Backend.Path), so that a
// new cost applies to new connections at once, without a reload.
type SiteCosts struct {
	app       *App
	service   string // "" for the app's own
	overrides []linkgraph.Link
	cells     map[string]*atomic.Int64 // every site of the network; read-only once made
	paths     atomic.Pointer[linkgraph.Paths]
	// shifting is set while the costs change and the service looks again
	// at its primary site: a shift then is the costs', not a failback
	shifting atomic.Bool
	observe  []func() // under app.auto.mu
}

// OnChange makes observe run after each change of the costs, such as a
// balancer's Observe: the service's primary site follows the new costs at
// once, and a shift it reports then is logged as the costs' (Shifting).
func (sc *SiteCosts) OnChange(observe func()) {
	sc.app.auto.mu.Lock()
	sc.observe = append(sc.observe, observe)
	sc.app.auto.mu.Unlock()
}

// Shifting reports whether the costs are changing right now: a change of
// the primary site seen then comes from the costs.
func (sc *SiteCosts) Shifting() bool { return sc != nil && sc.shifting.Load() }

// SiteCosts computes the path costs of service (the app's own for "")
// with its link cost overrides, and keeps them up to date with the auto
// links from the config's start to its stop.
func (a *App) SiteCosts(service string, overrides []linkgraph.Link) (*SiteCosts, error) {
	// the overrides are checked alone first, so that an error names only
	// what the user wrote
	if _, err := a.network.Paths(overrides); err != nil {
		return nil, err
	}
	sc := &SiteCosts{app: a, service: service, overrides: overrides, cells: make(map[string]*atomic.Int64)}
	for _, s := range a.network.Sites() {
		sc.cells[s] = new(atomic.Int64)
	}
	if err := sc.refresh(); err != nil {
		return nil, err
	}
	a.auto.mu.Lock()
	a.auto.costs = append(a.auto.costs, sc)
	a.auto.mu.Unlock()
	return sc, nil
}

// Paths returns the current path costs.
func (sc *SiteCosts) Paths() *linkgraph.Paths { return sc.paths.Load() }

// Cell returns the atomic path cost to site (-1 while unreachable), for
// costlb.Backend.Path; nil for a site that is not in the network, and when
// the config has no auto link: its costs never change, and the pick then
// reads the plain PathCost, one memory access less.
func (sc *SiteCosts) Cell(site string) *atomic.Int64 {
	if len(sc.app.auto.uses) == 0 {
		return nil
	}
	return sc.cells[site]
}

// refresh recomputes the path costs with the current measured costs.
func (sc *SiteCosts) refresh() error {
	p, err := sc.app.network.Paths(append(sc.app.measuredCosts(sc.overrides), sc.overrides...))
	if err != nil {
		return err
	}
	for site, cell := range sc.cells {
		c, _ := p.Cost(site)
		if !c.Reachable {
			cell.Store(-1)
			continue
		}
		cell.Store(c.Cost)
	}
	sc.paths.Store(p)
	return nil
}

// refreshCosts recomputes every path cost of the config after a change of
// an auto link's cost.
func (a *App) refreshCosts() {
	// one at a time: of two links changing at once, the refresh that
	// runs last reads both costs, and no older one overwrites it
	a.auto.refreshing.Lock()
	defer a.auto.refreshing.Unlock()
	a.auto.mu.Lock()
	costs := append([]*SiteCosts(nil), a.auto.costs...)
	a.auto.mu.Unlock()
	for _, sc := range costs {
		sc.shifting.Store(true)
		if err := sc.refresh(); err != nil {
			// cannot happen: the overrides were checked when sc was made
			a.logger.Error("costlb: recomputing path costs", zap.String("service", sc.service), zap.Error(err))
		} else if sc.service != "" {
			a.SetPathCosts(sc.service, sc.Paths())
		}
		a.auto.mu.Lock()
		observe := append([]func(){}, sc.observe...)
		a.auto.mu.Unlock()
		for _, f := range observe {
			f()
		}
		sc.shifting.Store(false)
	}
}

// livePaths returns the app's path costs as they are now.
func (a *App) livePaths() *linkgraph.Paths {
	a.auto.mu.Lock()
	defer a.auto.mu.Unlock()
	if len(a.auto.costs) > 0 {
		return a.auto.costs[0].Paths()
	}
	return a.paths
}
