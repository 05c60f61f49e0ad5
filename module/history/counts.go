package history

import "sync"

// countKey names the Counts of one backend of one service; the service's
// own (Refused) has no address.
type countKey struct{ service, addr string }

// heldCounts is a Counts and how many configs hold it.
type heldCounts struct {
	Counts
	refs int
}

// counts are the running totals of the store, by service and backend,
// held by the configs that count on them: a reload that keeps a service's
// backend gets the same Counts, so its totals (and the Prometheus counters
// read from them) carry on.
type counts struct {
	mu    sync.Mutex
	byKey map[countKey]*heldCounts
}

// Hold returns the Counts of the backend at addr of service (addr "": the
// service's own), made on first use, and holds it until Release. Callers
// hold them once per config load, never per connection.
func (s *Store) Hold(service, addr string) *Counts {
	c := &s.counts
	c.mu.Lock()
	defer c.mu.Unlock()
	k := countKey{service, addr}
	h := c.byKey[k]
	if h == nil {
		h = new(heldCounts)
		c.byKey[k] = h
	}
	h.refs++
	return &h.Counts
}

// Release lets go of the Counts of addr of service, once per Hold; the
// last release forgets them (a connection still open adds to them
// unseen).
func (s *Store) Release(service, addr string) {
	c := &s.counts
	c.mu.Lock()
	defer c.mu.Unlock()
	k := countKey{service, addr}
	if h := c.byKey[k]; h != nil {
		if h.refs--; h.refs <= 0 {
			delete(c.byKey, k)
		}
	}
}

// peek returns the Counts of addr of service if some config holds them,
// else nil.
func (c *counts) peek(service, addr string) *Counts {
	c.mu.Lock()
	defer c.mu.Unlock()
	if h := c.byKey[countKey{service, addr}]; h != nil {
		return &h.Counts
	}
	return nil
}

// Total is one backend's running totals, for the metrics.
type Total struct {
	Service, Address                 string
	ToBackend, ToClient, FailedDials uint64
}

// Totals returns the running totals of every backend some config holds.
func (s *Store) Totals() []Total {
	c := &s.counts
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]Total, 0, len(c.byKey))
	for k, h := range c.byKey {
		if k.addr == "" {
			continue
		}
		out = append(out, Total{Service: k.service, Address: k.addr,
			ToBackend: h.ToBackend.Load(), ToClient: h.ToClient.Load(), FailedDials: h.FailedDials.Load()})
	}
	return out
}
