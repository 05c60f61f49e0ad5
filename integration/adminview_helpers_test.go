package integration

// Reading GET /costlb/: the view, its parts and a background poller.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// lbView mirrors GET /costlb/, decoded independently of the module's types
// so that the tests check the JSON contract.
type lbView struct {
	LocalSite string      `json:"local_site"`
	Sites     []lbSite    `json:"sites"`
	Services  []lbService `json:"services"`
	Counters  []lbCounter `json:"counters"`
}

type lbSite struct {
	Name      string   `json:"name"`
	PathCost  int64    `json:"path_cost"`
	Hops      int      `json:"hops"`
	Path      []string `json:"path"`
	Reachable bool     `json:"reachable"`
}

type lbService struct {
	Name        string      `json:"name"`
	Kind        string      `json:"kind"`
	PrimarySite string      `json:"primary_site"`
	Ready       bool        `json:"ready"`
	Routes      []costRoute `json:"routes"`
	Backends    []lbBackend `json:"backends"`
}

type lbBackend struct {
	Site           string `json:"site"`
	Address        string `json:"address"`
	PathCost       int64  `json:"path_cost"`
	SiteCost       int64  `json:"site_cost"`
	OnwardCost     int64  `json:"onward_cost"`
	Live           int64  `json:"live_connections"`
	Perceived      int64  `json:"perceived_cost"`
	Healthy        bool   `json:"healthy"`
	Available      bool   `json:"available"`
	MaxConnections int64  `json:"max_connections"`
	Total          uint64 `json:"connections_total"`
	// gateway backends only
	ReadyURL       string      `json:"ready_url"`
	Ready          *bool       `json:"ready"`
	Routes         []costRoute `json:"routes"`
	NotReadyReason string      `json:"not_ready_reason"`
	DroppedRoutes  []string    `json:"dropped_routes"`
}

type lbCounter struct {
	Address string `json:"address"`
	Live    int64  `json:"live_connections"`
}

// fetchView reads GET /costlb/; it is safe to call from any goroutine.
func fetchView(c *harness.Caddy) (lbView, []byte, error) {
	var v lbView
	status, body, err := c.Get("/costlb/")
	if err != nil {
		return v, body, err
	}
	if status != http.StatusOK {
		return v, body, fmt.Errorf("GET /costlb/: status %d: %s", status, body)
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return v, body, fmt.Errorf("GET /costlb/: %v: %s", err, body)
	}
	return v, body, nil
}

// mustView reads GET /costlb/ or fails the test.
func mustView(t testing.TB, c *harness.Caddy) lbView {
	t.Helper()
	v, _, err := fetchView(c)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (v lbView) service(name string) *lbService {
	for i := range v.Services {
		if v.Services[i].Name == name {
			return &v.Services[i]
		}
	}
	return nil
}

// mustService returns the named service of v or fails the test.
func mustService(t testing.TB, v lbView, name string) *lbService {
	t.Helper()
	s := v.service(name)
	if s == nil {
		t.Fatalf("GET /costlb/ has no service %q: %+v", name, v.Services)
	}
	return s
}

func (s *lbService) backend(addr string) *lbBackend {
	for i := range s.Backends {
		if s.Backends[i].Address == addr {
			return &s.Backends[i]
		}
	}
	return nil
}

// mustBackend returns the backend of s at addr or fails the test.
func mustBackend(t testing.TB, s *lbService, addr string) *lbBackend {
	t.Helper()
	b := s.backend(addr)
	if b == nil {
		t.Fatalf("service %q has no backend %s: %+v", s.Name, addr, s.Backends)
	}
	return b
}

// counter returns the process-wide live count of addr and whether counters[]
// lists it.
func (v lbView) counter(addr string) (int64, bool) {
	for _, c := range v.Counters {
		if c.Address == addr {
			return c.Live, true
		}
	}
	return 0, false
}

// nonZeroLive describes every live count in v (services' backends and
// counters[]) that is not 0, and returns the lowest count seen.
func (v lbView) nonZeroLive() (bad []string, low int64) {
	for _, s := range v.Services {
		for _, b := range s.Backends {
			low = min(low, b.Live)
			if b.Live != 0 {
				bad = append(bad, fmt.Sprintf("service %s backend %s: live %d", s.Name, b.Address, b.Live))
			}
		}
	}
	for _, c := range v.Counters {
		low = min(low, c.Live)
		if c.Live != 0 {
			bad = append(bad, fmt.Sprintf("counter %s: live %d", c.Address, c.Live))
		}
	}
	return bad, low
}

// livePoller polls GET /costlb/ in the background and remembers the lowest
// live count it ever saw, and where.
type livePoller struct {
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}

	polls, errs int
	low         int64
	lowWhere    []string
	high        int64
	lastErr     error
}

func startLivePoller(c *harness.Caddy, every time.Duration) *livePoller {
	p := &livePoller{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			v, _, err := fetchView(c)
			if err != nil {
				p.errs++
				p.lastErr = err
			} else {
				p.polls++
				bad, low := v.nonZeroLive()
				if low < p.low {
					p.low, p.lowWhere = low, bad
				}
				for _, b := range v.Counters {
					p.high = max(p.high, b.Live)
				}
			}
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

// Stop ends the polling; the fields are safe to read afterwards. It may be
// called more than once.
func (p *livePoller) Stop() {
	p.stopOnce.Do(func() { close(p.stop) })
	<-p.done
}
