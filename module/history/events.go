package history

import (
	"strconv"
	"time"
)

// MaxEvents is how many events the store keeps: the last ones.
const MaxEvents = 200

// The kinds of event.
const (
	KindFailover        = "failover"          // a service's primary site moved to a dearer one
	KindFailback        = "failback"          // it moved back to a cheaper one
	KindGatewayReady    = "gateway_ready"     // a gateway backend answered ready
	KindGatewayNotReady = "gateway_not_ready" // it stopped being ready (Reason says why)
	KindBackendUp       = "backend_up"        // a backend became healthy
	KindBackendDown     = "backend_down"      // it became unhealthy (Reason says why, if known)
	KindCostChange      = "cost_change"       // a link's cost differs from the config before
	KindReload          = "reload"            // a new config started
)

// Event is one thing that happened.
type Event struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Service string    `json:"service,omitempty"`
	Site    string    `json:"site,omitempty"`
	Backend string    `json:"backend,omitempty"`
	// From and To: the primary sites of a failover or failback, the
	// costs of a cost change.
	From   string   `json:"from,omitempty"`
	To     string   `json:"to,omitempty"`
	Link   []string `json:"link,omitempty"`
	Reason string   `json:"reason,omitempty"`
}

// events is a ring of the last MaxEvents events; the store's mu guards it.
type events struct {
	ev   [MaxEvents]Event
	next int // where the next event goes
	len  int
	// the failovers and failbacks of each service since the process
	// started, for the metrics
	shifts map[string]*Shifts
}

// Shifts counts a service's failovers and failbacks.
type Shifts struct{ Failovers, Failbacks uint64 }

// add records e, dropping the oldest event when the ring is full.
func (r *events) add(e Event) {
	r.ev[r.next] = e
	r.next = (r.next + 1) % MaxEvents
	r.len = min(r.len+1, MaxEvents)
	if e.Kind == KindFailover || e.Kind == KindFailback {
		if r.shifts == nil {
			r.shifts = make(map[string]*Shifts)
		}
		n := r.shifts[e.Service]
		if n == nil {
			n = new(Shifts)
			r.shifts[e.Service] = n
		}
		if e.Kind == KindFailover {
			n.Failovers++
		} else {
			n.Failbacks++
		}
	}
}

// ShiftsOf returns the failovers and failbacks of service since the
// process started (its name, across config generations).
func (s *Store) ShiftsOf(service string) Shifts {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.shifts[service]; n != nil {
		return *n
	}
	return Shifts{}
}

// list returns the events, oldest first.
func (r *events) list() []Event {
	out := make([]Event, 0, r.len)
	for i := r.len; i > 0; i-- {
		out = append(out, r.ev[(r.next-i+MaxEvents)%MaxEvents])
	}
	return out
}

// Add records e (its Time set to now if zero).
func (s *Store) Add(e Event) {
	if e.Time.IsZero() {
		e.Time = time.Now()
	}
	s.mu.Lock()
	s.events.add(e)
	s.mu.Unlock()
}

// Link is a link between two sites with its cost, for Configured.
type Link struct {
	Between [2]string
	Cost    int64
}

// Configured records that a config with links started at now: a reload
// event unless it is the first, and a cost change event for each link
// whose cost differs from the config before's (a link added or removed
// is no cost change).
func (s *Store) Configured(now time.Time, links []Link) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := make(map[[2]string]int64, len(links))
	for _, l := range links {
		k := l.Between
		if k[1] < k[0] {
			k[0], k[1] = k[1], k[0]
		}
		cur[k] = l.Cost
	}
	if s.configured {
		s.events.add(Event{Time: now, Kind: KindReload})
		for _, l := range links {
			k := l.Between
			if k[1] < k[0] {
				k[0], k[1] = k[1], k[0]
			}
			if old, ok := s.links[k]; ok && old != l.Cost {
				s.events.add(Event{Time: now, Kind: KindCostChange, Link: []string{k[0], k[1]},
					From: strconv.FormatInt(old, 10), To: strconv.FormatInt(l.Cost, 10)})
				s.links[k] = l.Cost // a link given twice is told once
			}
		}
	}
	s.links, s.configured = cur, true
}
