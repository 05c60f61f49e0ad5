package costlb

import (
	"math/bits"
	"sync"
	"sync/atomic"
	"time"
)

// Ramp is the slow-start state of one backend address: whether it was
// last seen unavailable, and since when it is available again. Like a
// Counter, it is shared process-wide per address (a layer4 backend's lives
// in its Counter; an HTTP upstream's in a RampRegistry), so that a reload
// keeps a running ramp where it was.
type Ramp struct {
	down  atomic.Bool
	since atomic.Int64 // clock reading when the address came back; 0: not ramping
	// for a RampRegistry: the address and how many configs hold it
	addr string
	refs int
}

// Ramping reports whether a ramp is running, as the last pick saw it.
func (r *Ramp) Ramping() bool { return r.since.Load() != 0 }

// epoch is the origin of the default clock.
var epoch = time.Now()

// monotonic is the default clock: nanoseconds on the monotonic clock
// since the process started, never 0 (0 means "no ramp").
func monotonic() int64 { return int64(time.Since(epoch)) + 1 }

// SetSlowStart turns slow start on for the balancer's backends: a backend
// that comes back (seen unavailable by a pick or Observe, then available)
// takes an effective weight growing linearly from 10% to 100% of its
// weight over d. 0 turns it off. now, if not nil, replaces the clock (for
// tests): nanoseconds, never 0, the same clock for every balancer sharing
// an address. Call it before the first pick.
func (b *Balancer) SetSlowStart(d time.Duration, now func() int64) {
	b.slowStart = int64(max(d, 0))
	b.now = monotonic
	if now != nil {
		b.now = now
	}
	b.plain = b.plain && b.slowStart == 0
}

// SlowStart returns the slow-start duration (0: off).
func (b *Balancer) SlowStart() time.Duration { return time.Duration(b.slowStart) }

// noteDown records that e is unavailable, when slow start is on: it ramps
// up when it comes back.
func (b *Balancer) noteDown(e *entry) {
	if b.slowStart > 0 && !e.Ramp.down.Load() {
		e.Ramp.down.Store(true)
	}
}

// rampShare returns e's share of its weight in millionths, as it is now
// (fullShare unless ramping), and how long its ramp has to run. A backend
// seen unavailable before starts its ramp here: this is the first time it
// is seen available again. now is the clock if already read (0 if not);
// the reading is returned for the next backend.
func (b *Balancer) rampShare(e *entry, now int64) (share uint64, left time.Duration, clock int64) {
	r := e.Ramp
	if r.down.Load() {
		if now == 0 {
			now = b.now()
		}
		if r.down.CompareAndSwap(true, false) {
			r.since.Store(now)
		}
	}
	since := r.since.Load()
	if since == 0 {
		return fullShare, 0, now
	}
	if now == 0 {
		now = b.now()
	}
	elapsed := now - since
	if elapsed >= b.slowStart {
		r.since.CompareAndSwap(since, 0) // the ramp is over
		return fullShare, 0, now
	}
	elapsed = max(elapsed, 0)
	return b.shareAt(elapsed), time.Duration(b.slowStart - elapsed), now
}

// shareAt returns the share of its weight a backend has elapsed
// nanoseconds into its ramp (0 ≤ elapsed < the slow-start duration), in
// millionths: 10% + 90% × elapsed ÷ duration, rounded down. elapsed is
// below the duration, so the 128-bit quotient fits in 64 bits.
func (b *Balancer) shareAt(elapsed int64) uint64 {
	hi, lo := bits.Mul64(uint64(elapsed), fullShare*9/10)
	q, _ := bits.Div64(hi, lo, uint64(b.slowStart))
	return fullShare/10 + q
}

// rampState returns e's share and the time its ramp has left, for a
// report: it starts no ramp and ends none.
func (b *Balancer) rampState(e *entry) (share uint64, left time.Duration) {
	since := e.Ramp.since.Load()
	if b.slowStart == 0 || since == 0 {
		return fullShare, 0
	}
	elapsed := b.now() - since
	if elapsed >= b.slowStart {
		return fullShare, 0
	}
	elapsed = max(elapsed, 0)
	return b.shareAt(elapsed), time.Duration(b.slowStart - elapsed)
}

// RampRegistry maps addresses to their Ramps, for backends whose live
// count is kept elsewhere (HTTP upstreams), so that their ramps outlive a
// config generation as a Counter's does. A ramp is freed when no config
// holds it.
type RampRegistry struct {
	mu     sync.Mutex
	byAddr map[string]*Ramp
}

// NewRampRegistry returns an empty registry.
func NewRampRegistry() *RampRegistry {
	return &RampRegistry{byAddr: make(map[string]*Ramp)}
}

// Hold returns the ramp of addr, creating it on first use, and holds it
// until Release.
func (r *RampRegistry) Hold(addr string) *Ramp {
	r.mu.Lock()
	defer r.mu.Unlock()
	rp, ok := r.byAddr[addr]
	if !ok {
		rp = &Ramp{addr: addr}
		r.byAddr[addr] = rp
	}
	rp.refs++
	return rp
}

// Release lets go of a ramp Hold returned, once per Hold.
func (r *RampRegistry) Release(rp *Ramp) {
	r.mu.Lock()
	defer r.mu.Unlock()
	rp.refs--
	if rp.refs <= 0 && r.byAddr[rp.addr] == rp {
		delete(r.byAddr, rp.addr)
	}
}

// Len returns how many ramps the registry holds.
func (r *RampRegistry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byAddr)
}
