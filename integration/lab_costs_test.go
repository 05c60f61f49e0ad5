package integration

// Cost-based balancing and a silent partition on a real multi-site network:
// Caddy in site a, backends in sites b and c, each a network namespace, the
// links between them delayed (and cut) by the lab's wire.

import (
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
	"github.com/costlb/costlb/integration/netlab"
)

// TestLabStaticCosts: with static costs b=10 and c=40, held connections
// through site a's Caddy split exactly as the pick rule places them, and
// the links' real delays (b the slower here) change nothing.
func TestLabStaticCosts(t *testing.T) {
	lab, b, c, listen := labBC(t, 20*time.Millisecond, 2*time.Millisecond)
	lab.StartCaddy("a", costlbCaddyfile(`
		site a
		link a b 10
		link a c 40`, costlbRoute(listen, `
		name svc
		backend b %s
		backend c %s`, b.Addr(), c.Addr())), "caddyfile")

	const n = 44
	got, _ := holdEach(t, listen, n)
	sim := newSim(simBackend{addr: b.Addr(), path: 10}, simBackend{addr: c.Addr(), path: 40})
	live := map[string]int64{}
	names := map[string]string{b.Addr(): "b", c.Addr(): "c"}
	for i, name := range got {
		if want := names[sim.Pick(live)]; name != want {
			t.Fatalf("held connection %d reached %s, the rule places it on %s (all: %v)", i, name, want, got)
		}
	}
	if b.Open() != 37 || c.Open() != 7 {
		t.Errorf("backends hold b=%d c=%d connections, want 37 and 7 (b: 10+37 = 47, c: 40+7 = 47)", b.Open(), c.Open())
	}
	t.Logf("%d held connections: b %d, c %d", n, b.Open(), c.Open())
}

// TestLabSilentPartition: the link a–b is cut (packets dropped, no reset):
// site a's active health checks time out and the service fails over to c
// within health_fall × health_interval + health_timeout; a connection
// held to b across the cut is not reset and carries data again after the
// heal; after the heal b is up within one interval. The primary site
// follows each within one interval more.
// It runs with quick checks, and with examples/auto-cost's settings.
func TestLabSilentPartition(t *testing.T) {
	for _, hc := range []struct {
		name              string
		interval, timeout time.Duration
		fall              int
	}{
		{"quick checks", 200 * time.Millisecond, 100 * time.Millisecond, 2},
		{"examples/auto-cost", time.Second, 500 * time.Millisecond, 2},
	} {
		t.Run(hc.name, func(t *testing.T) { labSilentPartition(t, hc.interval, hc.timeout, hc.fall) })
	}
}

// labSilentPartition is TestLabSilentPartition with the given checks.
func labSilentPartition(t *testing.T, interval, timeout time.Duration, fall int) {
	// bound is the detection bound the config gives: the first check
	// after the cut starts within one interval, and the fall-th failing
	// one ends a timeout after it started. margin is the scheduling
	// margin on a shared, loaded machine, as foMargin.
	bound := time.Duration(fall)*interval + timeout
	const margin = 500 * time.Millisecond
	lab, b, c, listen := labBC(t, 5*time.Millisecond, 5*time.Millisecond)
	caddy := lab.StartCaddy("a", costlbCaddyfile(`
		site a
		link a b 10
		link a c 40`, costlbRoute(listen, `
		name svc
		backend b %s
		backend c %s
		health_interval %v
		health_timeout %v
		health_fall %d`, b.Addr(), c.Addr(), interval, timeout, fall)), "caddyfile")

	name, held, err := harness.Hold(listen, dialTimeout)
	if err != nil || name != "b" {
		t.Fatalf("first connection: %q, %v; want b", name, err)
	}
	defer held.Close()

	// state reports whether b is healthy and the service's primary site
	state := func() (bool, string) {
		s := mustService(t, mustView(t, caddy), "svc")
		return mustBackend(t, s, b.Addr()).Healthy, s.PrimarySite
	}
	// watch times b's health and the primary site after a change: the
	// health follows the checks; the primary site, with no connection
	// flowing, is looked at once per health interval (module.WatchPrimary)
	watch := func(what string, wantUp bool, wantPrimary string) (health, primary time.Duration) {
		t.Helper()
		start := time.Now()
		harness.WaitFor(t, 10*time.Second, func() bool {
			up, p := state()
			if up == wantUp && health == 0 {
				health = time.Since(start)
			}
			return up == wantUp && p == wantPrimary
		}, fmt.Sprintf("10 s after the %s, b's health is not %t with %s the primary site", what, wantUp, wantPrimary))
		return health, time.Since(start)
	}
	lab.Cut("a", "b")
	down, failover := watch("cut", false, "c")
	t.Logf("failover: b down %v and c primary %v after the cut (bounds %v and one interval more, + margin %v)",
		down.Round(time.Millisecond), failover.Round(time.Millisecond), bound, margin)
	if down > bound+margin || failover > bound+interval+margin {
		t.Errorf("after the cut b was down in %v and c primary in %v, want within %v and %v (+%v margin)", down, failover, bound, bound+interval, margin)
	}
	for i := range 3 {
		if name, err := harness.Once(listen, dialTimeout); err != nil || name != "c" {
			t.Errorf("connection %d during the cut reached %q (%v), want c", i, name, err)
		}
	}
	// the held connection: data sent during the cut stalls, nothing resets it
	if _, err := held.Write([]byte("ping")); err != nil {
		t.Fatalf("write on the connection held to b during the cut: %v", err)
	}
	if st := lab.Stats("a", "b"); st.DroppedCut == 0 {
		t.Errorf("a→b %+v: the cut dropped nothing", st)
	}

	lab.Heal("a", "b")
	up, failback := watch("heal", true, "b")
	t.Logf("failback: b up %v and primary %v after the heal (bounds %v and one interval more, + margin %v)",
		up.Round(time.Millisecond), failback.Round(time.Millisecond), interval, margin)
	if up > interval+margin || failback > 2*interval+margin {
		t.Errorf("after the heal b was up in %v and primary in %v, want within %v and %v (+%v margin)", up, failback, interval, 2*interval, margin)
	}
	if name, err := harness.Once(listen, dialTimeout); err != nil || name != "b" {
		t.Errorf("connection after the heal reached %q (%v), want b", name, err)
	}
	held.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 4)
	if _, err := io.ReadFull(held, buf); err != nil || string(buf) != "ping" {
		t.Errorf("the connection held to b across the cut: read %q, %v; want the echo of ping", buf, err)
	}

	if n := len(healthTimeouts(caddy.Logs(), b.Addr())); n < fall {
		t.Errorf("%d active health checks of b timed out, want at least %d", n, fall)
	}
	eachLogLine(caddy.Logs(), func(line []byte) {
		l := string(line)
		if strings.Contains(l, b.Addr()) && (strings.Contains(l, "reset") || strings.Contains(l, "refused")) {
			t.Errorf("Caddy saw a reset or refusal from b, which a silent cut never sends: %s", l)
		}
	})
}

// labBC makes the lab of three sites these tests share: a, the Caddy's,
// linked to b and c with the given one-way delays, and a backend named
// after its site in each of b and c. It returns them and an address for
// the Caddy to listen on in a.
func labBC(t *testing.T, delayB, delayC time.Duration) (lab *netlab.Lab, b, c *harness.Backend, listen string) {
	lab = netlab.New(t, "a", "b", "c")
	lab.SetDelay("a", "b", delayB)
	lab.SetDelay("a", "c", delayC)
	b = lab.StartBackend("b", "b")
	c = lab.StartBackend("c", "c")
	return lab, b, c, labAddr(t, lab, "a")
}
