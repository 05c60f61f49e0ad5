// Package costlb is the balancing core of costlb: exact live connection
// counters and the cost-based pick. It has no Caddy imports.
//
// Every new connection goes to the available backend with the lowest
// perceived cost = path cost + live connections ÷ weight (weight.go; with
// every weight 1, path cost + live connections), where a gateway's path
// cost is the cost to its site plus its onward cost (Backend.Onward). With
// slow start, a backend that comes back ramps its weight up (ramp.go). Ties
// go to the lower path cost (local before remote), then to the backend picked least recently, so
// equal backends share new connections evenly. A backend is available when
// its health probe says so, when it is a gateway (another costlb serving the
// service onwards) its readiness probe says so too, and, if it has a
// connection limit, its live count is below it.
package costlb

import (
	"fmt"
	"sync/atomic"
	"time"
)

// Backend describes one backend address of a service. It is plain
// configuration; the Balancer keeps the running state.
type Backend struct {
	// Site is the site the backend runs in.
	Site string
	// Address is the dial address, for display.
	Address string
	// PathCost is the cost of the cheapest path from the local site to Site.
	PathCost int64
	// Path, when set, is read instead of PathCost on every pick: the path
	// cost to Site as it is now, for a network whose link costs follow
	// measurements. It must stay within 0 and MaxRouteCost.
	Path *atomic.Int64
	// Onward, for a gateway, is the cost from the gateway's site onwards:
	// the lowest cost among its usable routes, which its readiness poller
	// keeps up to date. The backend's path cost in the pick is PathCost +
	// Onward. nil means 0. It must stay within MaxRouteCost.
	Onward *atomic.Int64
	// MaxConns caps the backend's live connections; 0 means no cap.
	MaxConns int64
	// Weight is what the backend can take relative to the others, from 1
	// to MaxWeight; 0 means 1. Its live count counts as live ÷ Weight.
	Weight int64
	// Ramp is the address's slow-start state, shared process-wide; nil
	// means its Counter's, or, for a backend counted by Load, one of its
	// own, which lasts as long as the balancer.
	Ramp *Ramp
	// Counter counts the backend's live connections (shared process-wide).
	// Exactly one of Counter and Load is set.
	Counter *Counter
	// Load, set instead of Counter, is the backend's live count, kept by
	// someone else (for HTTP, the proxy's own in-flight requests to the
	// upstream): the balancer reads it on every pick and counts nothing
	// itself, so a ticket passed to Pick is not held on such a backend.
	// Like Healthy, it must be cheap and must not block.
	Load func() int64
	// Healthy reports the backend's health; nil means always healthy. It is
	// called on every pick, so it must be cheap and must not block.
	Healthy func() bool
	// Ready reports, for a gateway (a backend that is another costlb
	// serving the service onwards), whether its last readiness answer
	// offered a route; nil means the backend is not a gateway. Like
	// Healthy, it is called on every pick.
	Ready func() bool
}

// usable reports whether the backend is healthy and, for a gateway, ready:
// whether it can serve at all, whatever its load.
func (be *Backend) usable() bool {
	return (be.Healthy == nil || be.Healthy()) && (be.Ready == nil || be.Ready())
}

// Shift describes a change of a service's primary site: the site with the
// lowest path cost among usable (healthy and, for gateways, ready)
// backends. From or To is "" when no backend was or is usable. The first
// pick or Observe of a balancer reports the primary site it finds as an
// Initial shift from "", so that a caller can compare it with what an
// earlier balancer of the same service saw.
type Shift struct {
	// From is the previous primary site, To the new one.
	From, To string
	// FromHealthy tells whether From still has a usable backend: if it
	// has, a preferred site came back (failback); if not, From went down
	// (failover).
	FromHealthy bool
	// Initial marks the first pick or Observe of a balancer, which reports
	// the primary site it finds as a shift from "".
	Initial bool
}

// Failover reports whether the shift moved traffic away from a site
// because its backends became unhealthy, or to no site at all.
func (s Shift) Failover() bool {
	return s.To == "" || (s.From != "" && !s.FromHealthy)
}

type entry struct {
	Backend
	site  int32 // index into Balancer.sites
	picks atomic.Uint64
	last  atomic.Uint64 // rotation stamp: higher = picked more recently
}

// Balancer picks backends for one service. It is safe for concurrent use;
// Pick takes no lock and does not allocate.
type Balancer struct {
	entries []entry
	sites   []string
	primary atomic.Int32 // site index of the primary site; -1 none; -2 not yet seen
	onShift func(Shift)
	// plain is set when every weight is 1 and slow start is off: the
	// pick then compares whole numbers alone (choose), its fast path
	plain     bool
	slowStart int64        // slow-start duration in nanoseconds; 0: off
	now       func() int64 // the clock of the ramps (ramp.go)
}

// New returns a balancer over backends. onShift, if not nil, is called
// (synchronously, from Pick or Observe, once per change) when the primary
// site changes, and on the first pick or Observe with Initial set.
func New(backends []Backend, onShift func(Shift)) (*Balancer, error) {
	if len(backends) == 0 {
		return nil, fmt.Errorf("no backends")
	}
	b := &Balancer{entries: make([]entry, len(backends)), onShift: onShift, plain: true, now: monotonic}
	siteIndex := make(map[string]int32)
	for i, be := range backends {
		if (be.Counter == nil) == (be.Load == nil) {
			return nil, fmt.Errorf("backend %d (%s): want exactly one of a counter and a load", i, be.Address)
		}
		if be.PathCost < 0 || be.PathCost > MaxRouteCost {
			return nil, fmt.Errorf("backend %d (%s): path cost %d: must be 0 to %d", i, be.Address, be.PathCost, MaxRouteCost)
		}
		if be.MaxConns < 0 {
			return nil, fmt.Errorf("backend %d (%s): negative max connections %d", i, be.Address, be.MaxConns)
		}
		if be.Weight < 0 || be.Weight > MaxWeight {
			return nil, fmt.Errorf("backend %d (%s): weight %d: must be 1 to %d", i, be.Address, be.Weight, MaxWeight)
		}
		si, ok := siteIndex[be.Site]
		if !ok {
			si = int32(len(b.sites))
			siteIndex[be.Site] = si
			b.sites = append(b.sites, be.Site)
		}
		e := &b.entries[i]
		// the entry keeps the weight and ramp it uses in its Backend,
		// resolved, so that it grows by nothing a pick does not read
		e.Backend, e.site = be, si
		e.Weight = max(be.Weight, 1)
		if e.Ramp == nil && be.Counter != nil {
			e.Ramp = &be.Counter.ramp
		} else if e.Ramp == nil {
			e.Ramp = new(Ramp)
		}
		b.plain = b.plain && e.Weight == 1
	}
	b.primary.Store(-2)
	return b, nil
}

// Len returns the number of backends.
func (b *Balancer) Len() int { return len(b.entries) }

// Backend returns the configuration of backend i, its Weight (1 if not
// given) and Ramp resolved.
func (b *Balancer) Backend(i int) Backend { return b.entries[i].Backend }

// Pick chooses a backend for the connection holding t and counts the
// connection on it. It returns the backend's index, or -1 if no backend is
// available. t must hold no count: a retry releases its failed try's count
// first. A nil t picks without counting anything.
//
// A backend with a connection limit is reserved atomically: its count goes
// up only if it is below the limit at that instant, so concurrent picks
// never take more places than the limit. A pick that loses the last place
// to another chooses again without that backend.
func (b *Balancer) Pick(t *Ticket) int {
	i, stamp := b.choose(nil)
	if i >= 0 && t != nil && !b.entries[i].reserve() {
		i, stamp = b.chooseAgain(i)
	}
	if i < 0 {
		return -1
	}
	e := &b.entries[i]
	if t != nil && e.Counter != nil {
		t.held = e.Counter
	}
	if stamp != 0 {
		e.last.Store(stamp)
	}
	e.picks.Add(1)
	return i
}

// chooseAgain is Pick after it lost the race for backend lost: it chooses
// without the backends it lost, until it reserves one (returned as choose
// returns it) or none is left (-1).
func (b *Balancer) chooseAgain(lost int) (int, uint64) {
	var races lostRaces
	races.add(lost)
	for {
		i, stamp := b.choose(&races)
		if i < 0 || b.entries[i].reserve() {
			return i, stamp
		}
		races.add(i)
	}
}

// lostRaces lists the capped backends a pick found full when it tried to
// reserve them, so that it does not choose them again. It remembers up to
// len(idx) of them, which takes that many concurrent picks winning a race
// against this one; beyond, a backend found full is still passed over while
// its count stays at its limit, and each race lost means another pick won.
type lostRaces struct {
	n   int
	idx [8]int32
}

func (l *lostRaces) add(i int) {
	if l.n < len(l.idx) {
		l.idx[l.n] = int32(i)
		l.n++
	}
}

// has reports whether backend i is in l; a nil l has none.
func (l *lostRaces) has(i int) bool {
	if l == nil {
		return false
	}
	for _, j := range l.idx[:l.n] {
		if int(j) == i {
			return true
		}
	}
	return false
}

// choose returns the available backend with the lowest perceived cost,
// leaving out those in lost (which may be nil), or -1, and records a change of the primary
// site. stamp is the rotation stamp the chosen backend takes if the pick
// counts on it, or 0 if it is already alone the most recently picked.
func (b *Balancer) choose(lost *lostRaces) (best int, stamp uint64) {
	if !b.plain {
		return b.chooseWeighted(lost)
	}
	best = -1
	scan := b.primaryScan()
	var bestCost, bestPath int64
	var bestLast, newest uint64
	atNewest := 0 // how many backends carry the newest stamp
	for i := range b.entries {
		e := &b.entries[i]
		if !e.usable() {
			continue
		}
		scan.see(e)
		live := e.live()
		if e.MaxConns > 0 && (live >= e.MaxConns || lost.has(i)) {
			continue
		}
		path := e.pathCost()
		cost := path + live
		last := e.last.Load()
		if last > newest {
			newest, atNewest = last, 1
		} else if last == newest {
			atNewest++
		}
		if best < 0 || cost < bestCost ||
			(cost == bestCost && (path < bestPath ||
				(path == bestPath && last < bestLast))) {
			best, bestCost, bestPath, bestLast = i, cost, path, last
		}
	}
	b.endScan(&scan)
	// the winner becomes the most recently picked among the backends seen;
	// when it already is, alone, the store would change no order: skip it
	if best >= 0 && (bestLast != newest || atNewest != 1 || newest == 0) {
		stamp = newest + 1
	}
	return best, stamp
}

// reserve counts a connection on the backend within its cap, and reports
// whether it could; a backend whose count is kept elsewhere (Load) needs
// no reservation.
func (e *entry) reserve() bool {
	return e.Counter == nil || e.Counter.reserve(e.MaxConns)
}

// pathCost returns the backend's path cost as the pick sees it: the path
// cost to its site plus, for a gateway, its onward cost.
func (e *entry) pathCost() int64 {
	if e.Onward == nil {
		return e.siteCost()
	}
	return e.siteCost() + e.Onward.Load()
}

// siteCost returns the path cost to the backend's site: Path's if set,
// else PathCost.
func (e *entry) siteCost() int64 {
	if e.Path != nil {
		return e.Path.Load()
	}
	return e.PathCost
}

// live returns the backend's live count: its Load, else its Counter's.
func (e *entry) live() int64 {
	if e.Load != nil {
		return e.Load()
	}
	return e.Counter.live.Load()
}

// Observe records the primary site as the backends' probes say it is now,
// and reports a change as a pick does. A caller runs it every health
// interval, so that a service without traffic notices a failover too.
func (b *Balancer) Observe() {
	scan := b.primaryScan()
	for i := range b.entries {
		e := &b.entries[i]
		if !e.usable() {
			b.noteDown(e)
			continue
		}
		scan.see(e)
		if b.slowStart > 0 {
			if e.MaxConns > 0 && e.live() >= e.MaxConns {
				b.noteDown(e)
			} else {
				b.rampShare(e, 0)
			}
		}
	}
	b.endScan(&scan)
}

// primaryScan finds the primary site (the cheapest site with a usable
// backend) among the usable backends it is shown, and whether the primary
// site recorded before still has one.
type primaryScan struct {
	prev, site int32 // the recorded primary site; the one found (-1 none yet)
	cost       int64 // the path cost of site
	prevUsable bool
}

func (b *Balancer) primaryScan() primaryScan {
	return primaryScan{prev: b.primary.Load(), site: -1}
}

// see counts in a usable backend.
func (p *primaryScan) see(e *entry) {
	if c := e.siteCost(); p.site < 0 || c < p.cost {
		p.site, p.cost = e.site, c
	}
	p.prevUsable = p.prevUsable || e.site == p.prev
}

// endScan records and reports the primary site the scan found, if it
// changed.
func (b *Balancer) endScan(p *primaryScan) {
	if p.site != p.prev {
		b.notePrimary(p.prev, p.site, p.prevUsable)
	}
}

// notePrimary records a change of the primary site seen by a pick and
// reports it, once: of concurrent picks that saw the same change, the one
// that records it reports it.
func (b *Balancer) notePrimary(old, site int32, oldHealthy bool) {
	if !b.primary.CompareAndSwap(old, site) || b.onShift == nil {
		return
	}
	s := Shift{Initial: old == -2, FromHealthy: oldHealthy}
	if site >= 0 {
		s.To = b.sites[site]
	}
	if old >= 0 {
		s.From = b.sites[old]
	}
	b.onShift(s)
}

// State is a snapshot of one backend's running state.
type State struct {
	Backend
	// Live is the backend address's live connection count (process-wide):
	// its Counter's, or what its Load reports.
	Live int64
	// OnwardCost is the gateway's cost from its site onwards (0 for a
	// backend that is not a gateway), and TotalCost the path cost the pick
	// uses: PathCost (to the backend's site) + OnwardCost.
	OnwardCost, TotalCost int64
	// Perceived is TotalCost + Live ÷ the effective weight, rounded down.
	Perceived int64
	// Share is the part of its Weight (1 if not given) the backend has
	// now, in millionths: 1000000 unless it is ramping up after slow
	// start, for RampLeft more.
	Share    uint64
	RampLeft time.Duration
	// Healthy is the health probe's answer.
	Healthy bool
	// Ready is the gateway's readiness (true for a backend that is not a
	// gateway).
	Ready bool
	// Available is Healthy, Ready and below MaxConns, if set.
	Available bool
	// Picks counts the connections this balancer sent to the backend,
	// every dial attempt included.
	Picks uint64
}

// State returns a snapshot of backend i.
func (b *Balancer) State(i int) State {
	e := &b.entries[i]
	s := State{Backend: e.Backend, Live: e.live(), Picks: e.picks.Load()}
	s.PathCost = e.siteCost() // the cost as it is now, for a Path
	if e.Onward != nil {
		s.OnwardCost = e.Onward.Load()
	}
	s.TotalCost = s.PathCost + s.OnwardCost
	s.Share, s.RampLeft = b.rampState(e)
	s.Perceived = perceived(s.TotalCost, s.Live, uint64(e.Weight)*s.Share)
	s.Healthy = e.Healthy == nil || e.Healthy()
	s.Ready = e.Ready == nil || e.Ready()
	s.Available = s.Healthy && s.Ready && (s.MaxConns == 0 || s.Live < s.MaxConns)
	return s
}

// SiteHealthy reports whether site has a usable backend: healthy and, for
// a gateway, ready. It asks every backend's probes; it is for reports, not
// for the pick path.
func (b *Balancer) SiteHealthy(site string) bool {
	for i := range b.entries {
		e := &b.entries[i]
		if e.Site == site && e.usable() {
			return true
		}
	}
	return false
}

// Primary returns the primary site last seen by a pick or Observe: the
// site with the lowest path cost among usable backends ("" if none).
// Before the first pick or Observe it observes, so that a config just
// loaded shows its primary site at once, not "" until the first
// connection or health tick.
func (b *Balancer) Primary() string {
	if b.primary.Load() == -2 {
		b.Observe()
	}
	if p := b.primary.Load(); p >= 0 {
		return b.sites[p]
	}
	return ""
}
