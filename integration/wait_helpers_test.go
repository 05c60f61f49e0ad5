package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// The waits on a Caddy's admin view (GET /costlb/), all built on
// harness.WaitFor.

// waitHealthy waits until every backend of service svc is healthy. Configs
// whose demo backends run in the same Caddy need it: caddy-l4 runs the first
// active health check while provisioning, before the config's own HTTP
// servers listen, so a demo backend can start out down for one interval.
func waitHealthy(t *testing.T, c *harness.Caddy, svc string) {
	t.Helper()
	harness.WaitFor(t, 10*time.Second, func() bool {
		for _, s := range mustView(t, c).Services {
			if s.Name != svc {
				continue
			}
			for _, b := range s.Backends {
				if !b.Healthy {
					return false
				}
			}
			return true
		}
		return false
	}, "every backend of "+svc+" healthy")
}

// waitIdle waits until no connection of service svc is open, such as the
// one of a request that just finished.
func waitIdle(t *testing.T, c *harness.Caddy, svc string) {
	t.Helper()
	harness.WaitFor(t, relTimeout, func() bool {
		for _, n := range liveByAddress(t, c, svc) {
			if n != 0 {
				return false
			}
		}
		return true
	}, svc+" idle")
}

// waitAllLiveZero waits until every live count of GET /costlb/ is 0, then
// checks that it stays 0, and fails the test with the counts if not.
func waitAllLiveZero(t testing.TB, c *harness.Caddy, timeout time.Duration) lbView {
	t.Helper()
	var last []string
	deadline := time.Now().Add(timeout)
	for {
		v, _, err := fetchView(c)
		if err == nil {
			bad, low := v.nonZeroLive()
			if low < 0 {
				t.Fatalf("negative live count: %v", bad)
			}
			if len(bad) == 0 {
				time.Sleep(200 * time.Millisecond)
				v = mustView(t, c)
				if bad, _ := v.nonZeroLive(); len(bad) != 0 {
					t.Fatalf("live counts left 0 with no connection open: %v", bad)
				}
				return v
			}
			last = bad
		}
		if time.Now().After(deadline) {
			t.Fatalf("live counts not all 0 after %v with every connection closed: %v (err %v)", timeout, last, err)
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// waitCounterEquals waits until the live count of addr is want.
func waitCounterEquals(t testing.TB, c *harness.Caddy, addr string, want int64) {
	t.Helper()
	var got int64
	harness.WaitFor(t, relTimeout, func() bool {
		v, _, err := fetchView(c)
		got, _ = v.counter(addr)
		return err == nil && got == want
	}, fmt.Sprintf("live count of %s did not return to %d", addr, want))
}

// waitGateway waits until the Caddy's view shows the gateway backend at
// addr of svc with readiness want.
func waitGateway(t *testing.T, c *harness.Caddy, svc, addr string, want bool) {
	t.Helper()
	harness.WaitFor(t, 10*time.Second, func() bool {
		b := mustBackend(t, mustService(t, mustView(t, c), svc), addr)
		return b.Ready != nil && *b.Ready == want && b.Available == want
	}, fmt.Sprintf("gateway %s of %s ready=%t", addr, svc, want))
}

// waitSettled waits until the Caddy's goroutine total and open file
// descriptors stay the same over 5 samples 100 ms apart, such as once its
// start is done, and returns them.
func waitSettled(t *testing.T, c *harness.Caddy) (goroutines, fds int) {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for same := 0; same < 5; time.Sleep(100 * time.Millisecond) {
		_, g := pollerGoroutines(t, c)
		f := procFDs(t, c)
		if g == goroutines && f == fds {
			same++
		} else {
			goroutines, fds, same = g, f, 1
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Caddy's goroutines and open fds did not settle within 15 s: last %d and %d", g, f)
		}
	}
	return goroutines, fds
}
