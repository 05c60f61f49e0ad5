package module

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/costlb/costlb/linkgraph"
	"github.com/costlb/costlb/module/history"
	"github.com/costlb/costlb/module/rttcost"
)

// Links with "cost": "auto" (link <a> <b> auto): the cost follows the
// round trip this Caddy measures to the link's other site. Samples come
// from the data path (the connect time of every dial to a backend in that
// site), from readiness polls to gateways there, and from a connect probe
// (autoprobe.go) when nothing else measured the site for a second. Path
// costs follow the measured costs through SiteCosts (sitecosts.go).
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
	History.Add(history.Event{Kind: history.KindCostChange, Link: []string{l.key[0], l.key[1]},
		From: strconv.FormatInt(ch.Old, 10), To: strconv.FormatInt(ch.New, 10),
		Reason: fmt.Sprintf("measured round trip %.1f ms", durationMs(ch.RTT))})
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
	// refreshing makes refreshCosts run one at a time
	refreshing sync.Mutex

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

// measurableUse returns u with every auto link the service does not
// override at cost 1, the least it can measure: a link is of use if a
// cheapest path may cross it once its cost is measured, not only at the
// unmeasured 9998.
func (a *App) measurableUse(u linkgraph.Use) linkgraph.Use {
	extra := a.measuredCosts(u.Overrides)
	for i := range extra {
		extra[i].Cost = 1
	}
	u.Overrides = append(slices.Clip(u.Overrides), extra...)
	return u
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
