package gateway

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
)

// TestPollRoundTrips: a poller with an RTT sink gives it the round trip
// of every answered poll, on the first (new) connection and on kept-alive
// ones; a failed poll gives none, and a Load without a sink stops them.
func TestPollRoundTrips(t *testing.T) {
	var mu sync.Mutex
	var rtts []time.Duration
	sink := func(d time.Duration) {
		mu.Lock()
		rtts = append(rtts, d)
		mu.Unlock()
	}
	count := func() int {
		mu.Lock()
		defer mu.Unlock()
		return len(rtts)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `{"ready": true, "routes": [{"sites": ["B"], "cost": 0}]}`)
	}))
	defer srv.Close()
	spec := Spec{Service: "rtt", Upstream: "b:1", Local: "A", URL: srv.URL + "/ready/rtt", Interval: 5 * time.Millisecond, Timeout: time.Second, RTT: sink}
	g := Load(spec, zap.NewNop())
	defer g.Release()
	waitFor(t, func() bool { return count() >= 5 }, func() string {
		return fmt.Sprintf("%d round trips after 5 s of polls every 5 ms, want 5", count())
	})
	mu.Lock()
	for i, d := range rtts {
		if d <= 0 || d > time.Second {
			t.Errorf("round trip %d on loopback = %v", i, d)
		}
	}
	mu.Unlock()

	// the same poller, loaded without a sink: no more samples
	spec.RTT = nil
	g2 := Load(spec, zap.NewNop())
	defer g2.Release()
	if g2 != g {
		t.Fatal("a Load that differs only in RTT made a new poller")
	}
	if g.rtt.Load() != nil {
		t.Fatal("the latest Load's nil sink did not replace the earlier one")
	}
}
