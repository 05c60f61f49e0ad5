package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// TestPassiveMarksDownAndBack: a backend refusing dials is marked down by
// the passive checks after max_fails failed dials, for fail_duration, and
// gets connections again after.
func TestPassiveMarksDownAndBack(t *testing.T) {
	dead := harness.StartBackend(t, "east")
	west := harness.StartBackend(t, "west")
	dead.Stop()
	listen := harness.FreeAddr(t)
	c := harness.StartCaddy(t, costlbCaddyfile(`
		site east
		link east west 5`,
		costlbRoute(listen, `
			name p
			backend east %s
			backend west %s
			fail_duration 1500ms
			max_fails 2`, dead.Addr(), west.Addr()),
	), "caddyfile")
	healthy := func() bool { return mustBackend(t, mustService(t, mustView(t, c), "p"), dead.Addr()).Healthy }

	for i := 1; i <= 2; i++ {
		if name, err := harness.Once(listen, relTimeout); err == nil {
			t.Fatalf("failed dial %d: the connection reached %s; east is down and there are no retries", i, name)
		}
		if want := i < 2; healthy() != want {
			t.Fatalf("after %d failed dials east healthy = %t, want %t (max_fails 2)", i, !want, want)
		}
	}
	downAt := time.Now()
	if name, err := harness.Once(listen, relTimeout); err != nil || name != "west" {
		t.Fatalf("with east marked down the connection reached %q (%v), want west", name, err)
	}
	dead.Restart()
	harness.WaitFor(t, relTimeout, healthy, "east healthy again after fail_duration")
	took := time.Since(downAt)
	if took < 1300*time.Millisecond {
		t.Fatalf("east healthy again %v after its second failure, before fail_duration 1500ms", took)
	}
	t.Logf("east back %v after being marked down (fail_duration 1500ms)", took)
	if name, err := harness.Once(listen, relTimeout); err != nil || name != "east" {
		t.Fatalf("after fail_duration the connection reached %q (%v), want east", name, err)
	}
	waitAllLiveZero(t, c, relTimeout)
}

// TestSilentCloseDetection: a backend that accepts and resets at once
// keeps a live count of 0, so it attracts every new connection while a
// healthy backend has any open. With fail_on_silent_close, after
// max_silent_closes such connections it is down for fail_duration and the
// healthy backend serves 100 of 100; without it every connection fails.
func TestSilentCloseDetection(t *testing.T) {
	onDataPaths(t, func(t *testing.T, route routeFunc) {
		silent, accepted := silentReset(t, 20*time.Millisecond)
		good := harness.StartBackend(t, "good")
		lPlain, lDetect := harness.FreeAddr(t), harness.FreeAddr(t)
		c := harness.StartCaddy(t, costlbCaddyfile("site east",
			route(lPlain, `
				name plain
				backend east %s %s
				fail_duration 1m`, silent, good.Addr()),
			route(lDetect, `
				name detect
				backend east %s %s
				fail_duration 1m
				fail_on_silent_close 2s
				max_silent_closes 3`, silent, good.Addr()),
		), "caddyfile")

		// once opens a connection through the service and returns where it
		// went, once costlb has counted it closed if it failed
		once := func(svc, listen string) (string, error) {
			name, err := harness.Once(listen, relTimeout)
			if err != nil {
				harness.WaitFor(t, relTimeout, func() bool { return liveByAddress(t, c, svc)[silent] == 0 }, "the silent backend's connection counted closed")
			}
			return name, err
		}
		// holdGood opens connections until one reaches the good backend and
		// keeps it open; it returns how many reached the silent one first
		holdGood := func(svc, listen string) (failed int) {
			for i := 0; i < 10; i++ {
				name, conn, err := harness.Hold(listen, relTimeout)
				if err != nil {
					harness.WaitFor(t, relTimeout, func() bool { return liveByAddress(t, c, svc)[silent] == 0 }, "the silent backend's connection counted closed")
				}
				if err == nil && name == "good" {
					t.Cleanup(func() { _ = conn.Close() })
					return failed
				}
				failed++
			}
			t.Fatalf("no connection through %s reached the good backend in 10", listen)
			return
		}

		// without detection: with one connection open on the good backend,
		// every new one goes to the silent backend
		holdGood("plain", lPlain)
		for i := 0; i < 10; i++ {
			if name, err := once("plain", lPlain); err == nil {
				t.Fatalf("without detection connection %d reached %s; want the silent backend to take it", i, name)
			}
		}

		failed := holdGood("detect", lDetect)
		for failed < 3 {
			if name, err := once("detect", lDetect); err == nil {
				t.Fatalf("connection reached %s after %d silent closes; want the silent backend until 3 in a row", name, failed)
			}
			failed++
		}
		if b := mustBackend(t, mustService(t, mustView(t, c), "detect"), silent); b.Healthy {
			t.Fatal("3 silent closes in a row did not mark the silent backend down")
		}
		if b := mustBackend(t, mustService(t, mustView(t, c), "plain"), silent); !b.Healthy {
			t.Fatal("the service without detection sees the silent backend down too")
		}
		before := accepted.Load()
		for i := 0; i < 100; i++ {
			if name, err := harness.Once(lDetect, relTimeout); err != nil || name != "good" {
				t.Fatalf("connection %d of 100 after detection reached %q (%v), want good", i, name, err)
			}
		}
		if n := accepted.Load() - before; n != 0 {
			t.Fatalf("the silent backend got %d connections while marked down", n)
		}
	})
}

// TestCaddyL4CounterNotUsed: caddy-l4's proxy counts every dial on a peer
// counter it never decrements, so with max_connections 3 it refuses the
// fourth connection ever made. costlb shares caddy-l4's peer for the
// address but never counts on it: 10 sequential connections through
// costlb all pass, and caddy-l4's own proxy to the same address still
// has its 3 (had costlb's dials been counted on the peer, it would refuse
// the first).
func TestCaddyL4CounterNotUsed(t *testing.T) {
	b := harness.StartBackend(t, "echo")
	lc, lp := harness.FreeAddr(t), harness.FreeAddr(t)
	c := harness.StartCaddy(t, fmt.Sprintf(`{
	admin {ADMIN}
	costlb {
		site east
	}
	layer4 {
		%s {
			route {
				costlb {
					name counted
					backend east %s {
						max_connections 3
					}
				}
			}
		}
		%s {
			route {
				proxy {
					upstream %s {
						max_connections 3
					}
				}
			}
		}
	}
}`, lc, b.Addr(), lp, b.Addr()), "caddyfile")
	for i := 0; i < 10; i++ {
		if name, err := harness.Once(lc, relTimeout); err != nil || name != "echo" {
			t.Fatalf("costlb connection %d of 10 (max_connections 3, one at a time): %q, %v", i+1, name, err)
		}
		// one at a time for the proxy too: the client's close reaches
		// costlb's count a moment later, and three connections still
		// ending would rightly fill the cap
		waitAllLiveZero(t, c, relTimeout)
	}
	served := 0
	for i := 0; i < 6; i++ {
		if _, err := harness.Once(lp, relTimeout); err == nil {
			served++
		}
	}
	if served != 3 {
		t.Fatalf("caddy-l4's proxy served %d of 6 sequential connections after costlb's 10, want 3: its own max_connections 3, no costlb dial counted", served)
	}
	waitAllLiveZero(t, c, relTimeout)
}
