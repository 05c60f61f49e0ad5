package history

import (
	"slices"
	"strings"
	"time"
)

// Doc is the history as GET <costlb_status>/history.json serves it. Every
// series is oldest first and ends at the last sample (Last); a series is
// shorter than Length when its service or backend came later, or the
// process started less than Length samples ago.
type Doc struct {
	// IntervalMS is the time between two samples, in milliseconds (1000).
	IntervalMS int64 `json:"interval_ms"`
	// Length is the most samples a series keeps.
	Length int `json:"length"`
	// Last is when the last sample was taken (null before the first).
	Last     *time.Time   `json:"last"`
	Services []ServiceDoc `json:"services"`
	// Events are the last MaxEvents events, oldest first.
	Events []Event `json:"events"`
}

// ServiceDoc is one service's series: each sample's live connections
// (over its backends), new connections (requests, for an HTTP service)
// and connections refused for want of an available backend.
type ServiceDoc struct {
	Name     string       `json:"name"`
	Live     []int32      `json:"live"`
	New      []int32      `json:"new"`
	Refused  []int32      `json:"refused"`
	Backends []BackendDoc `json:"backends,omitempty"`
}

// BackendDoc is one backend's series: each sample's live connections, new
// connections, failed dials and bytes proxied each way during it.
type BackendDoc struct {
	Site        string  `json:"site"`
	Address     string  `json:"address"`
	Live        []int32 `json:"live"`
	New         []int32 `json:"new"`
	FailedDials []int32 `json:"failed_dials"`
	ToBackend   []int64 `json:"to_backend"`
	ToClient    []int64 `json:"to_client"`
}

// Query chooses what Snapshot includes.
type Query struct {
	// Service, if set, keeps only that service.
	Service string
	// NoBackends leaves out the backends' series.
	NoBackends bool
}

// Snapshot returns the history that q asks for, services by name and
// backends by address.
func (s *Store) Snapshot(q Query) Doc {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := Doc{IntervalMS: s.interval.Milliseconds(), Length: Length, Services: []ServiceDoc{}, Events: s.events.list()}
	if s.n > 0 {
		last := s.last
		d.Last = &last
	}
	for name, ss := range s.services {
		if q.Service != "" && name != q.Service {
			continue
		}
		sd := ServiceDoc{Name: name}
		from := s.from(ss.since)
		sd.Live, sd.New, sd.Refused = s.window(&ss.live, from), s.window(&ss.opened, from), s.window(&ss.refused, from)
		if !q.NoBackends {
			sd.Backends = []BackendDoc{}
			for addr, bs := range ss.backends {
				from := s.from(bs.since)
				sd.Backends = append(sd.Backends, BackendDoc{Site: bs.site, Address: addr,
					Live: s.window(&bs.live, from), New: s.window(&bs.opened, from), FailedDials: s.window(&bs.failed, from),
					ToBackend: s.window64(&bs.toBack, from), ToClient: s.window64(&bs.toClient, from)})
			}
			slices.SortFunc(sd.Backends, func(a, b BackendDoc) int { return strings.Compare(a.Address, b.Address) })
		}
		d.Services = append(d.Services, sd)
	}
	slices.SortFunc(d.Services, func(a, b ServiceDoc) int { return strings.Compare(a.Name, b.Name) })
	return d
}

// from returns the first sample number a series made at since still
// holds.
func (s *Store) from(since uint64) uint64 {
	if s.n > Length && since < s.n-Length {
		return s.n - Length
	}
	return since
}

// window returns ring's samples from sample number from to the last.
func (s *Store) window(ring *[Length]int32, from uint64) []int32 {
	out := make([]int32, 0, s.n-min(from, s.n))
	for i := from; i < s.n; i++ {
		out = append(out, ring[i%Length])
	}
	return out
}

// window64 is window for a ring of int64.
func (s *Store) window64(ring *[Length]int64, from uint64) []int64 {
	out := make([]int64, 0, s.n-min(from, s.n))
	for i := from; i < s.n; i++ {
		out = append(out, ring[i%Length])
	}
	return out
}
