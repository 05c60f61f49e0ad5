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
}

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

// Registry maps dial addresses to their Counters. It is meant to live for
// the whole process (one per process in the Caddy module) so that config
// reloads, which build new balancers, see the same counts. Counters are
// never removed: the set of addresses a process is configured with is small,
// and a removed backend's counter must outlive its config while connections
// to it stay open.
type Registry struct {
	mu     sync.Mutex
	byAddr map[string]*Counter
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{byAddr: make(map[string]*Counter)}
}

// Counter returns the counter for addr, creating it on first use. Callers
// look counters up once per config load, never per connection.
func (r *Registry) Counter(addr string) *Counter {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, ok := r.byAddr[addr]
	if !ok {
		c = &Counter{addr: addr}
		r.byAddr[addr] = c
	}
	return c
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
	if t.held != nil {
		t.held.live.Add(-1)
		t.held = nil
	}
}

// Held returns the counter the connection is counted on, or nil.
func (t *Ticket) Held() *Counter { return t.held }
