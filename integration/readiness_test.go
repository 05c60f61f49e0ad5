package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// TestReadinessChainFailover: site A balances over site B's Caddy (a
// gateway, cost 1) and a direct backend in site C (cost 10). B's only
// backend dies: within 2 of A's poll intervals every new connection reaches
// C, none fails; it comes back: A returns to B within 2 intervals, and no
// connection fails meanwhile.
func TestReadinessChainFailover(t *testing.T) {
	const interval = 500 * time.Millisecond // A's health_interval: its readiness poll
	b1 := harness.StartBackend(t, "b1")
	c1 := harness.StartBackend(t, "c1")
	listenA, listenB, statusB := harness.FreeAddr(t), harness.FreeAddr(t), harness.FreeAddr(t)
	const network = `
		link A B 1
		link A C 10`
	// B checks its own server every 100 ms: what A learns can be no fresher
	harness.StartCaddy(t, siteCaddyfile("site B"+network, listenB, fmt.Sprintf(`
		name web
		backend B %s
		health_interval 100ms
		health_timeout 100ms`, b1.Addr()), statusB), "caddyfile")
	ca := harness.StartCaddy(t, siteCaddyfile("site A"+network, listenA, fmt.Sprintf(`
		name web
		%s
		backend C %s
		health_interval 500ms
		health_timeout 400ms`, gatewayBackend("B", listenB, statusB, "web"), c1.Addr()), ""), "caddyfile")
	waitGateway(t, ca, "web", listenB, true)
	gw := mustBackend(t, mustService(t, mustView(t, ca), "web"), listenB)
	if fmt.Sprint(gw.Routes) != "[A→B@1]" || gw.ReadyURL != "http://"+statusB+"/ready/web" ||
		gw.PathCost != 1 || gw.SiteCost != 1 || gw.OnwardCost != 0 {
		t.Errorf("gateway in A's view: routes %v, ready_url %q, path cost %d = %d + %d; want [A→B@1], B's URL, 1 = 1 + 0",
			gw.Routes, gw.ReadyURL, gw.PathCost, gw.SiteCost, gw.OnwardCost)
	}
	if m := metricValues(t, ca, "caddy_costlb_gateway_ready"); m[fmt.Sprintf(`caddy_costlb_gateway_ready{service="web",upstream=%q}`, listenB)] != 1 {
		t.Errorf("gateway_ready metric %v, want 1 for %s", m, listenB)
	}
	for i := 0; i < 5; i++ {
		if name, err := harness.Once(listenA, dialTimeout); err != nil || name != "b1" {
			t.Fatalf("connection %d through A reached %q (%v), want b1 through the gateway", i, name, err)
		}
	}

	b1.Stop()
	killed := time.Now()
	probes := probeUntil(listenA, killed.Add(2*interval), killed.Add(2*interval+time.Second), 20*time.Millisecond)
	took := checkSwitch(t, probes, killed, killed.Add(2*interval), "c1")
	t.Logf("failover: the last connection not served by C started %v after B's backend died (bound %v)", took.Round(time.Millisecond), 2*interval)
	gw = mustBackend(t, mustService(t, mustView(t, ca), "web"), listenB)
	if gw.Ready == nil || *gw.Ready || gw.Available || !gw.Healthy || !strings.Contains(gw.NotReadyReason, "503") {
		t.Errorf("gateway after the failover: ready %v, available %t, healthy %t, reason %q; want not ready (503), healthy, unavailable",
			gw.Ready, gw.Available, gw.Healthy, gw.NotReadyReason)
	}
	if m := metricValues(t, ca, "caddy_costlb_gateway_ready"); m[fmt.Sprintf(`caddy_costlb_gateway_ready{service="web",upstream=%q}`, listenB)] != 0 {
		t.Errorf("gateway_ready metric %v, want 0 for %s", m, listenB)
	}

	b1.Restart()
	restored := time.Now()
	probes = probeUntil(listenA, restored.Add(2*interval), restored.Add(2*interval+time.Second), 20*time.Millisecond)
	for _, p := range probes {
		if p.err != nil {
			t.Errorf("a connection %v into the failback failed: %v", p.at.Sub(restored).Round(time.Millisecond), p.err)
		}
	}
	took = checkSwitch(t, probes, restored, restored.Add(2*interval), "b1")
	t.Logf("failback: the last connection not served by B started %v after B's backend returned (bound %v)", took.Round(time.Millisecond), 2*interval)

	logs := ca.Logs()
	for _, want := range []string{"costlb gateway not ready", "costlb gateway ready", `"reason":"answered 503 Service Unavailable"`, "costlb failover", "costlb failback"} {
		if !strings.Contains(logs, want) {
			t.Errorf("A's log lacks %q", want)
		}
	}
	if n := strings.Count(logs, "costlb gateway not ready"); n != 1 {
		t.Errorf("%d 'gateway not ready' lines, want exactly 1 for one failover", n)
	}
}

// TestReadinessThreeLevelChain: A -> B -> C -> backend. C's backend dies;
// A, two gateway hops away, reports the service not ready within 3
// intervals, as a fourth site polling A would see it; and ready again
// after it returns.
func TestReadinessThreeLevelChain(t *testing.T) {
	const interval = 400 * time.Millisecond
	c1 := harness.StartBackend(t, "c1")
	listenA, listenB, listenC := harness.FreeAddr(t), harness.FreeAddr(t), harness.FreeAddr(t)
	statusA, statusB, statusC := harness.FreeAddr(t), harness.FreeAddr(t), harness.FreeAddr(t)
	const network = `
		link A B 1
		link B C 1`
	// handler is each site's service: one backend, the same checks
	handler := func(backend string) string {
		return fmt.Sprintf(`
			name web
			%s
			health_interval 400ms
			health_timeout 300ms`, backend)
	}
	harness.StartCaddy(t, siteCaddyfile("site C"+network, listenC, handler("backend C "+c1.Addr()), statusC), "caddyfile")
	harness.StartCaddy(t, siteCaddyfile("site B"+network, listenB, handler(gatewayBackend("C", listenC, statusC, "web")), statusB), "caddyfile")
	harness.StartCaddy(t, siteCaddyfile("site A"+network, listenA, handler(gatewayBackend("B", listenB, statusB, "web")), statusA), "caddyfile")

	waitReadyChange(t, statusA, "web", true, 10*time.Second)
	if _, doc, err := getReady(statusA, "web"); err != nil || doc.Site != "A" || doc.Service != "web" || fmt.Sprint(doc.Routes) != "[A→B→C@2]" {
		t.Fatalf("A's readiness %+v (%v): want site A, service web, routes [A→B→C@2]", doc, err)
	}
	if name, err := harness.Once(listenA, dialTimeout); err != nil || name != "c1" {
		t.Fatalf("through A -> B -> C: reached %q (%v), want c1", name, err)
	}

	c1.Stop()
	took := waitReadyChange(t, statusA, "web", false, 10*time.Second)
	t.Logf("three-level chain: A not ready %v after C's backend died (bound 3 x %v)", took.Round(time.Millisecond), interval)
	if took > 3*interval {
		t.Errorf("A reported the service not ready %v after C's backend died, past 3 intervals (%v)", took, 3*interval)
	}
	c1.Restart()
	took = waitReadyChange(t, statusA, "web", true, 10*time.Second)
	t.Logf("three-level chain: A ready again %v after C's backend returned", took.Round(time.Millisecond))
	if took > 3*interval {
		t.Errorf("A reported the service ready again %v after C's backend returned, past 3 intervals (%v)", took, 3*interval)
	}
	harness.WaitFor(t, 5*time.Second, func() bool {
		name, err := harness.Once(listenA, dialTimeout)
		return err == nil && name == "c1"
	}, "a connection through the chain reaches c1 again")
}

// TestReadinessRing: three gateway sites, each listing both others, one
// real backend behind X. While it is up every site serves through the
// ring; when it dies every site answers 503 within (3 + 1) intervals and
// stays so: no ring keeps a dead service alive.
func TestReadinessRing(t *testing.T) {
	const interval = 500 * time.Millisecond
	x1 := harness.StartBackend(t, "x1")
	sites := []string{"X", "Y", "Z"}
	listen, status := map[string]string{}, map[string]string{}
	for _, s := range sites {
		listen[s], status[s] = harness.FreeAddr(t), harness.FreeAddr(t)
	}
	// the direct links to X are cheapest: a connection never needs a detour
	const network = `
		link X Y 1
		link X Z 1
		link Y Z 5`
	for _, s := range sites {
		handler := "name web"
		if s == "X" {
			handler += "\nbackend X " + x1.Addr()
		}
		for _, o := range sites {
			if o != s {
				handler += "\n" + gatewayBackend(o, listen[o], status[o], "web")
			}
		}
		handler += `
			health_interval 500ms
			health_timeout 400ms`
		harness.StartCaddy(t, siteCaddyfile("site "+s+network, listen[s], handler, status[s]), "caddyfile")
	}
	// Y's route through Z costs Y's path cost to Z (2, through X) plus
	// Z's cost to X (1)
	wantRoutes := map[string]string{
		"X": "[X@0]",
		"Y": "[Y→X@1 Y→Z→X@3]",
		"Z": "[Z→X@1 Z→Y→X@3]",
	}
	for _, s := range sites {
		harness.WaitFor(t, 10*time.Second, func() bool {
			_, doc, err := getReady(status[s], "web")
			return err == nil && fmt.Sprint(doc.Routes) == wantRoutes[s]
		}, fmt.Sprintf("site %s offers routes %s", s, wantRoutes[s]))
		if name, err := harness.Once(listen[s], dialTimeout); err != nil || name != "x1" {
			t.Fatalf("through site %s: reached %q (%v), want x1", s, name, err)
		}
	}

	x1.Stop()
	killed := time.Now()
	left := map[string]time.Duration{}
	for len(left) < len(sites) && time.Since(killed) < 10*time.Second {
		for _, s := range sites {
			if _, done := left[s]; done {
				continue
			}
			if code, _, err := getReady(status[s], "web"); err == nil && code == 503 {
				left[s] = time.Since(killed)
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("ring: not ready after the backend died: %v (bound 4 x %v)", left, interval)
	for _, s := range sites {
		if d, ok := left[s]; !ok || d > 4*interval {
			t.Errorf("site %s: not ready after %v (reported: %t), want within 4 intervals (%v)", s, d, ok, 4*interval)
		}
	}
	// and it stays withdrawn: stale routes do not circle back
	until := time.Now().Add(3 * interval)
	for time.Now().Before(until) {
		for _, s := range sites {
			if code, doc, err := getReady(status[s], "web"); err != nil || code != 503 {
				t.Fatalf("site %s answered %d %+v (%v) after the withdrawal: a stale route came back", s, code, doc, err)
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	x1.Restart()
	for _, s := range sites {
		waitReadyChange(t, status[s], "web", true, 10*time.Second)
	}
}
