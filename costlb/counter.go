package costlb

import (
	"sort"
	"sync"
	"sync/atomic"
)

// Counter holds the live connection count of one dial address. A Counter is
// shared by every service and every config generation that dials the same
// address, so its count is exact across reloads. A count is taken only by
// Balancer.Pick, into a Ticket, and given back only by that Ticket's
// Release, so each connection is counted once and released once.
type Counter struct {
	addr string
	live atomic.Int64
	reg  *Registry
	// refs counts the configs holding the counter (Registry.Counter,
	// Release). It changes under reg.mu; a connection's Release reads it
	// without, to take the lock only for an address no config holds.
	refs atomic.Int64
	// ramp is the address's slow-start state, kept beside its count so
	// that it lives as long and survives reloads alike.
	ramp Ramp
}

// Ramp returns the address's slow-start state.
func (c *Counter) Ramp() *Ramp { return &c.ramp }

// Address returns the dial address this counter counts connections to.
func (c *Counter) Address() string { return c.addr }

// Live returns the number of connections to the address open right now.
func (c *Counter) Live() int64 { return c.live.Load() }

// reserve counts one more connection if the count is below max (0: no
// limit), atomically, and reports whether it did. The count never goes
// above max through reserve, not even for an instant.
func (c *Counter) reserve(max int64) bool {
	if max == 0 {
		c.live.Add(1)
		return true
	}
	for {
		n := c.live.Load()
		if n >= max {
			return false
		}
		if c.live.CompareAndSwap(n, n+1) {
			return true
		}
	}
}

// Registry maps dial addresses to their Counters. It lives for the whole
// process (one per process in the Caddy module) so that config reloads,
// which build new balancers, see the same counts. A counter is freed once
// no config holds it and no connection is counted on it: a removed
// backend's counter outlives its config while connections to it stay
// open, and a process whose configs churn addresses does not grow.
//
// Why not a caddy.UsagePool: a pool frees an entry when its last config
// lets go, even with connections still counted on it; the next config to
// use the address would then count from 0 beside them.
type Registry struct {
	mu     sync.Mutex
	byAddr map[string]*Counter
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{byAddr: make(map[string]*Counter)}
}

// Counter returns the counter for addr, creating it on first use, and
// holds it for the caller's config until Release. Callers look counters up
// once per config load, never per connection.
func (r *Registry) Counter(addr string) *Counter {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.byAddr[addr]
	if !ok {
		c = &Counter{addr: addr, reg: r}
		r.byAddr[addr] = c
	}
	c.refs.Add(1)
	return c
}

// Release lets go of a counter Counter returned, once per call to Counter;
// the counter is freed when nothing holds it and nothing is counted on it.
func (r *Registry) Release(c *Counter) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c.refs.Add(-1)
	r.freeLocked(c)
}

// freeLocked removes c if no config holds it and no connection is counted
// on it. No pick can count on it then: only a config's balancer picks.
func (r *Registry) freeLocked(c *Counter) {
	if c.refs.Load() <= 0 && c.live.Load() == 0 && r.byAddr[c.addr] == c {
		delete(r.byAddr, c.addr)
	}
}

// Len returns how many counters the registry holds.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.byAddr)
}

// Counters returns every counter, sorted by address.
func (r *Registry) Counters() []*Counter {
	r.mu.Lock()
	out := make([]*Counter, 0, len(r.byAddr))
	for _, c := range r.byAddr {
		out = append(out, c)
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].addr < out[j].addr })
	return out
}

// Ticket is one proxied connection's claim on a live count. A connection
// holds at most one count at a time: Balancer.Pick counts it on the backend
// it chooses, Release drops it when the try fails or the connection ends.
// A Ticket belongs to one connection and is not safe for concurrent use; the
// Counters it touches are.
type Ticket struct {
	held *Counter
}

// Release drops the count held, if any. Calling it again does nothing.
func (t *Ticket) Release() {
	c := t.held
	if c == nil {
		return
	}
	t.held = nil
	if c.live.Add(-1) == 0 && c.refs.Load() <= 0 && c.reg != nil {
		// the last connection of an address no config may hold any more
		c.reg.mu.Lock()
		c.reg.freeLocked(c)
		c.reg.mu.Unlock()
	}
}

// Held returns the counter the connection is counted on, or nil.
func (t *Ticket) Held() *Counter { return t.held }
