package integration

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// TestReliabilitySpeedBalance runs 8 clients against two equal-cost backends,
// one closing its connections three times faster than the other: balancing by
// live connections sends the faster one at least 1.8x the connections.
func TestReliabilitySpeedBalance(t *testing.T) {
	const d = 150 * time.Millisecond
	fast := harness.StartBackend(t, "fast", harness.WithHoldClose(d))
	slow := harness.StartBackend(t, "slow", harness.WithHoldClose(3*d))
	listen := harness.FreeAddr(t)
	// slow first: the very first pick, on a full tie, goes to the first in
	// config order (later ties rotate), so any bias favours slow.
	// The ratio stays below the ideal 3: a connection counts until Caddy has
	// closed both sides, so a client that reconnects at once can still see
	// its previous connection counted on the fast backend and lose the tie
	// (measured ~2.2; ~2.8 with a 3 ms pause between connections).
	cfg := costlbCaddyfile("site east", l4Route{listen, fmt.Sprintf(`costlb {
		name speed
		backend east %s %s
	}`, slow.Addr(), fast.Addr())})
	c := harness.StartCaddy(t, cfg, "caddyfile")

	run := 6 * time.Second
	if *reliabilityLong {
		run = 30 * time.Second
	}
	const clients = 8
	var nFast, nSlow, nFail atomic.Int64
	var errMu sync.Mutex
	var firstErr error
	deadline := time.Now().Add(run)
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				name, conn, err := harness.Hold(listen, relTimeout)
				if err == nil {
					_, err = readToEOF(conn, relTimeout) // the backend closes
					_ = conn.Close()
				}
				switch {
				case err != nil:
					nFail.Add(1)
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
				case name == "fast":
					nFast.Add(1)
				case name == "slow":
					nSlow.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	v := waitAllLiveZero(t, c, relTimeout)
	s := mustService(t, v, "speed")
	bf, bs := mustBackend(t, s, fast.Addr()), mustBackend(t, s, slow.Addr())
	ratio := float64(nFast.Load()) / float64(max(nSlow.Load(), 1))
	t.Logf("FIGURES speed balance: %v run, %d clients, hold %v vs %v: fast %d, slow %d connections, ratio %.2f, %d failures",
		run, clients, d, 3*d, nFast.Load(), nSlow.Load(), ratio, nFail.Load())
	if nFail.Load() != 0 {
		t.Errorf("%d connections failed, e.g. %v", nFail.Load(), firstErr)
	}
	if bf.Total != uint64(nFast.Load()) || bs.Total != uint64(nSlow.Load()) {
		t.Errorf("connections_total fast %d, slow %d; clients counted %d, %d", bf.Total, bs.Total, nFast.Load(), nSlow.Load())
	}
	if nSlow.Load() == 0 || ratio < 1.8 {
		t.Errorf("fast/slow = %d/%d = %.2f; want at least 1.8", nFast.Load(), nSlow.Load(), ratio)
	}
}
