package module

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/costlb/costlb/linkgraph"
	"github.com/costlb/costlb/module/rttcost"
)

// Links with "cost": "auto" (link <a> <b> auto): the cost follows the
// round trip this Caddy measures to the link's other site. Samples come
// from the data path (the connect time of every dial to a backend in that
// site), from readiness polls to gateways there, and from a connect probe
// of this file's own when nothing else measured the site for a second.
// The measured state lives in the process, by the two sites the link
// joins, so that a reload keeps it as it keeps live counts.

// autoLinks holds the measured state of every auto link in use in the
// process, by its sites in byte order.
var autoLinks = struct {
	sync.Mutex
	m map[[2]string]*AutoLink
}{m: make(map[[2]string]*AutoLink)}

// AutoLink is the measured state of one auto link, shared by every config
// generation that has it.
type AutoLink struct {
	key  [2]string
	est  *rttcost.Estimator
	refs int // holders, under autoLinks' lock

	mu     sync.Mutex
	logger *zap.Logger                // the latest holder's
	subs   map[chan struct{}]struct{} // told of every change of the cost
}

func linkKey(a, b string) [2]string {
	if b < a {
		a, b = b, a
	}
	return [2]string{a, b}
}

// holdAutoLink returns the running state of the auto link between a and
// b, making it if nobody holds it. Each hold is given back with release.
func holdAutoLink(a, b string, logger *zap.Logger) *AutoLink {
	k := linkKey(a, b)
	autoLinks.Lock()
	defer autoLinks.Unlock()
	l := autoLinks.m[k]
	if l == nil {
		l = &AutoLink{key: k, est: rttcost.New(nil), subs: make(map[chan struct{}]struct{})}
		autoLinks.m[k] = l
	}
	l.refs++
	l.mu.Lock()
	l.logger = logger
	l.mu.Unlock()
	return l
}

// release gives back one hold; the last forgets what was measured.
func (l *AutoLink) release() {
	autoLinks.Lock()
	defer autoLinks.Unlock()
	if l.refs--; l.refs == 0 && autoLinks.m[l.key] == l {
		delete(autoLinks.m, l.key)
	}
}

// Observe takes one round-trip sample of the link. A change of the cost
// is logged once and told to every subscriber. It is cheap enough for the
// data path: a lock and a few float operations.
func (l *AutoLink) Observe(rtt time.Duration) {
	ch, changed := l.est.Add(rtt)
	if !changed {
		return
	}
	l.mu.Lock()
	logger := l.logger
	for s := range l.subs {
		select {
		case s <- struct{}{}:
		default: // a change is pending already
		}
	}
	l.mu.Unlock()
	if logger != nil {
		logger.Info("costlb link cost changed",
			zap.String("link", linkgraph.Link{Between: l.key}.String()),
			zap.Int64("old_cost", ch.Old), zap.Int64("new_cost", ch.New),
			zap.Float64("rtt_ms", durationMs(ch.RTT)))
	}
}

// State returns what was measured of the link.
func (l *AutoLink) State() rttcost.State { return l.est.State() }

func (l *AutoLink) subscribe() chan struct{} {
	c := make(chan struct{}, 1)
	l.mu.Lock()
	l.subs[c] = struct{}{}
	l.mu.Unlock()
	return c
}

func (l *AutoLink) unsubscribe(c chan struct{}) {
	l.mu.Lock()
	delete(l.subs, c)
	l.mu.Unlock()
}

func durationMs(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

// autoUse is one auto link of a config: which link and where it leads.
type autoUse struct {
	index  int    // in the app's links
	remote string // the site at the other end from the local site
	link   *AutoLink
}

// autoState is what an app keeps of its auto links: the links, the site
// costs it keeps up to date with them, and the goroutines that probe and
// apply.
type autoState struct {
	uses []autoUse

	mu       sync.Mutex
	costs    []*SiteCosts // every SiteCosts of the config, the app's own first
	released bool         // Cleanup gave back the holds of uses

	cancel context.CancelFunc
	done   sync.WaitGroup
}

// checkAutoLinks refuses an auto link that does not have the local site at
// one end: this Caddy measures round trips from itself only.
func checkAutoLinks(site string, links []linkgraph.Link) error {
	for i, l := range links {
		if l.Auto && l.Between[0] != site && l.Between[1] != site {
			return fmt.Errorf("apps.costlb.links[%d] (%v): cost \"auto\" is allowed only on a link with the local site %s at one end: "+
				"this Caddy measures round trips from itself, and the cost of a link between other sites reaches it through the route costs "+
				"of the gateways beyond; give this link a number from 1 to %d", i, l, linkgraph.QuoteName(site), linkgraph.MaxCost)
		}
	}
	return nil
}

// provisionAuto holds the measured state of the config's auto links,
// makes the app's own site costs and registers the link metrics.
func (a *App) provisionAuto(ctx caddy.Context) error {
	if err := a.holdAuto(); err != nil {
		return err
	}
	SharedCollector(ctx.GetMetricsRegistry(), linkCollector{a})
	return nil
}

// holdAuto holds the measured state of the config's auto links and makes
// the app's own site costs.
func (a *App) holdAuto() error {
	for i, l := range a.network.Links() {
		if !l.Auto {
			continue
		}
		remote := l.Between[0]
		if remote == a.Site {
			remote = l.Between[1]
		}
		a.auto.uses = append(a.auto.uses, autoUse{index: i, remote: remote, link: holdAutoLink(l.Between[0], l.Between[1], a.logger)})
	}
	_, err := a.SiteCosts("", nil)
	return err
}

// releaseAuto gives back the config's holds on the measured state of its
// auto links, once; the state of a link the next config keeps lives on.
func (a *App) releaseAuto() {
	a.auto.mu.Lock()
	released := a.auto.released
	a.auto.released = true
	a.auto.mu.Unlock()
	if !released {
		for _, u := range a.auto.uses {
			u.link.release()
		}
	}
}

// startAuto starts, for every auto link, the goroutine that applies its
// changes to the config's path costs and probes it when nothing else
// measured it for a second; then applies what was measured before this
// config (by an earlier one, or while it provisioned).
func (a *App) startAuto() {
	if len(a.auto.uses) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.auto.cancel = cancel
	targets := a.probeTargets()
	for _, u := range a.auto.uses {
		changed := u.link.subscribe()
		a.auto.done.Add(1)
		go func() {
			defer a.auto.done.Done()
			defer u.link.unsubscribe(changed)
			a.runAuto(ctx, u, changed, targets[u.remote])
		}()
	}
	a.refreshCosts()
}

// stopAuto stops the goroutines of startAuto and waits for them.
func (a *App) stopAuto() {
	if a.auto.cancel != nil {
		a.auto.cancel()
		a.auto.done.Wait()
	}
}

// probeInterval is how long an auto link may go without a sample before
// costlb probes it; probeTimeout bounds a probe.
const (
	probeInterval = time.Second
	probeTimeout  = 3 * time.Second
)

// runAuto applies the changes of u's cost and probes it when idle.
func (a *App) runAuto(ctx context.Context, u autoUse, changed <-chan struct{}, targets []probeTarget) {
	tick := time.NewTicker(probeInterval)
	defer tick.Stop()
	next := 0 // the target to probe: the same one while it answers
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
			a.refreshCosts()
		case <-tick.C:
			if len(targets) == 0 || time.Since(u.link.State().LastSample) < probeInterval {
				continue
			}
			t := targets[next%len(targets)]
			rtt, err := rttcost.Connect(ctx, t.network, t.addr, probeTimeout)
			if err != nil {
				next++ // try another backend of the site next time
				continue
			}
			u.link.Observe(rtt)
		}
	}
}

// probeTarget is a TCP address to probe.
type probeTarget struct{ network, addr string }

// probeTargets returns, by site, the TCP addresses of the services'
// backends there: what the probe of an auto link may connect to.
func (a *App) probeTargets() map[string][]probeTarget {
	out := make(map[string][]probeTarget)
	seen := make(map[string]bool)
	for _, s := range a.Services() {
		for _, b := range s.View().Backends {
			if seen[b.Address] || strings.Contains(b.Address, "{") {
				continue
			}
			seen[b.Address] = true
			na, err := caddy.ParseNetworkAddress(b.Address)
			if err != nil || !strings.HasPrefix(na.Network, "tcp") || na.PortRangeSize() != 1 {
				continue
			}
			out[b.Site] = append(out[b.Site], probeTarget{network: na.Network, addr: na.JoinHostPort(0)})
		}
	}
	return out
}

// RTTSink returns what takes the round trips measured to site, the far end
// of one of the config's auto links from the local site; nil if site is
// no such end. It stays valid across reloads.
func (a *App) RTTSink(site string) func(time.Duration) {
	for _, u := range a.auto.uses {
		if u.remote == site {
			return u.link.Observe
		}
	}
	return nil
}

// measuredCosts returns the current cost of every auto link, as overrides
// of the network's costs; those in except (a service's own overrides,
// which win) are left out.
func (a *App) measuredCosts(except []linkgraph.Link) []linkgraph.Link {
	links := a.network.Links()
	var out []linkgraph.Link
	for _, u := range a.auto.uses {
		l := links[u.index]
		k := linkKey(l.Between[0], l.Between[1])
		overridden := false
		for _, o := range except {
			overridden = overridden || linkKey(o.Between[0], o.Between[1]) == k
		}
		if !overridden {
			out = append(out, linkgraph.Link{Between: l.Between, Cost: u.link.State().Cost})
		}
	}
	return out
}

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

// linkViews returns the view of the network's links with their current
// costs and, for auto links, what was measured.
func (a *App) linkViews() []LinkView {
	out := LinkViews(a.network.Links())
	for _, u := range a.auto.uses {
		st := u.link.State()
		v := &out[u.index]
		v.Auto, v.Cost = true, st.Cost
		if st.Measured {
			ms := durationMs(st.RTT)
			v.RTTMs = &ms
		}
	}
	return out
}
