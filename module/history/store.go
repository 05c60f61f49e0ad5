package history

import (
	"sync"
	"time"
)

// MaxSeries bounds how many backends (over all services) the store keeps
// series for, whatever configs come and go: past it, a new backend has no
// history until an old one is forgotten.
const MaxSeries = 4096

// forgetAfter is how many samples a service or backend no config has any
// more keeps its series: as long as a series lasts, so that a page opened
// after a reload that dropped it still shows what it did.
const forgetAfter = Length

// Store is the history of a process. Its zero value is not usable; make
// one with NewStore.
type Store struct {
	mu       sync.Mutex
	interval time.Duration
	n        uint64    // samples taken
	last     time.Time // when the last one was taken
	services map[string]*serviceSeries
	nSeries  int

	events
	counts

	// the link costs of the config before, for cost change events
	links      map[[2]string]int64
	configured bool
}

// NewStore returns an empty store sampled every interval.
func NewStore(interval time.Duration) *Store {
	return &Store{interval: interval, services: make(map[string]*serviceSeries), counts: counts{byKey: make(map[countKey]*heldCounts)}}
}

// SetInterval sets how often the store is sampled, as the caller samples
// it; the series keep their samples.
func (s *Store) SetInterval(d time.Duration) {
	s.mu.Lock()
	s.interval = d
	s.mu.Unlock()
}

// Interval returns how often the store is sampled.
func (s *Store) Interval() time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.interval
}

// ServiceSample is one service's state at a sample.
type ServiceSample struct {
	Name     string
	Backends []BackendSample
}

// BackendSample is one backend's state at a sample.
type BackendSample struct {
	Site, Address string
	Live          int64
	// Opened is the connections (requests) sent to the backend, a running
	// total that a reload may restart.
	Opened  uint64
	Healthy bool
	// Ready is a gateway's readiness (nil for a plain backend), Reason why
	// a gateway is not ready or why a backend is unhealthy, if known.
	Ready  *bool
	Reason string
}

// Sample records the state of services at now, one sample of every
// series, and the events the changes since the sample before tell (a
// backend up or down, a gateway ready or not). A service or backend not
// in services keeps its series until they run out.
func (s *Store) Sample(now time.Time, services []ServiceSample) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.n
	slot := n % Length
	for i := range services {
		sv := &services[i]
		ss := s.services[sv.Name]
		if ss == nil {
			if s.nSeries+len(sv.Backends) > MaxSeries {
				continue
			}
			ss = &serviceSeries{since: n, backends: make(map[string]*backendSeries)}
			s.services[sv.Name] = ss
		}
		ss.seen = n
		var refused uint64
		if c := s.counts.peek(sv.Name, ""); c != nil {
			refused = c.Refused.Load()
		}
		if !ss.primed {
			ss.prevRefused, ss.primed = refused, true
		}
		ss.refused[slot] = clamp32(rate(refused, ss.prevRefused))
		ss.prevRefused = refused
		var live int64
		var opened int32
		for j := range sv.Backends {
			b := &sv.Backends[j]
			bs := ss.backends[b.Address]
			if bs == nil {
				if s.nSeries >= MaxSeries {
					continue
				}
				// its first sample counts all its totals hold: they were
				// held from the config's provisioning. A backend down or
				// not ready when first seen is an event: its first look
				// saw it so (at the process's start, or a new backend).
				bs = &backendSeries{since: n, healthy: true}
				if b.Ready != nil {
					bs.ready, bs.hasReady = true, true
				}
				ss.backends[b.Address] = bs
				s.nSeries++
			}
			s.sampleBackend(now, sv.Name, b, bs, slot)
			bs.seen = n
			live += b.Live
			opened += bs.opened[slot]
		}
		ss.live[slot] = clamp32(uint64(max(live, 0)))
		ss.opened[slot] = opened
		// a backend the service no longer has records nothing: zero it
		for addr, bs := range ss.backends {
			if bs.seen != n {
				bs.live[slot], bs.opened[slot], bs.failed[slot], bs.toBack[slot], bs.toClient[slot] = 0, 0, 0, 0, 0
				if n-bs.seen >= forgetAfter {
					delete(ss.backends, addr)
					s.nSeries--
				}
			}
		}
	}
	for name, ss := range s.services {
		if ss.seen != n {
			ss.live[slot], ss.opened[slot], ss.refused[slot] = 0, 0, 0
			for _, bs := range ss.backends {
				bs.live[slot], bs.opened[slot], bs.failed[slot], bs.toBack[slot], bs.toClient[slot] = 0, 0, 0, 0, 0
			}
			if n-ss.seen >= forgetAfter {
				s.nSeries -= len(ss.backends)
				delete(s.services, name)
			}
		}
	}
	s.n++
	s.last = now
}

// sampleBackend records b at slot, and the events its change tells.
func (s *Store) sampleBackend(now time.Time, service string, b *BackendSample, bs *backendSeries, slot uint64) {
	bs.site = b.Site
	bs.live[slot] = clamp32(uint64(max(b.Live, 0)))
	bs.opened[slot] = clamp32(rate(b.Opened, bs.prevOpened))
	bs.prevOpened = b.Opened
	if c := s.counts.peek(service, b.Address); c != nil {
		f, tb, tc := c.FailedDials.Load(), c.ToBackend.Load(), c.ToClient.Load()
		bs.failed[slot] = clamp32(rate(f, bs.prevFailed))
		bs.toBack[slot] = clamp64(rate(tb, bs.prevToBack))
		bs.toClient[slot] = clamp64(rate(tc, bs.prevToClient))
		bs.prevFailed, bs.prevToBack, bs.prevToClient = f, tb, tc
	} else {
		bs.failed[slot], bs.toBack[slot], bs.toClient[slot] = 0, 0, 0
	}
	ev := Event{Time: now, Service: service, Site: b.Site, Backend: b.Address}
	if b.Ready != nil {
		if !bs.hasReady || bs.ready != *b.Ready {
			ev.Kind, ev.Reason = KindGatewayReady, ""
			if !*b.Ready {
				ev.Kind, ev.Reason = KindGatewayNotReady, b.Reason
			}
			if bs.hasReady {
				s.events.add(ev)
			}
		}
		bs.ready, bs.hasReady = *b.Ready, true
	}
	if bs.healthy != b.Healthy {
		ev.Kind, ev.Reason = KindBackendUp, ""
		if !b.Healthy {
			ev.Kind, ev.Reason = KindBackendDown, b.Reason
		}
		s.events.add(ev)
	}
	bs.healthy = b.Healthy
}
