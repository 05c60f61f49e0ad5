package integration

import (
	"fmt"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
	"github.com/costlb/costlb/integration/netlab"
)

// TestLabReadinessChainFailover is TestReadinessChainFailover on the lab
// network with 5 ms one way between sites, so that nothing in the chain
// may assume loopback: site a balances over site b's Caddy (a gateway,
// cost 1, polled over the delayed link) and a backend in site c (cost 10).
// b's only backend dies: within 2 of a's poll intervals every new
// connection reaches c; it comes back: a returns to b within 2 intervals.
func TestLabReadinessChainFailover(t *testing.T) {
	const interval = 500 * time.Millisecond // a's health_interval: its readiness poll
	const oneWay = 5 * time.Millisecond
	lab := netlab.New(t, "a", "b", "c")
	lab.SetDelay("a", "b", oneWay)
	lab.SetDelay("a", "c", oneWay)
	lab.SetDelay("b", "c", oneWay)
	b1 := lab.StartBackend("b", "b1")
	c1 := lab.StartBackend("c", "c1")
	listenA, listenB, statusB := labAddr(t, lab, "a"), labAddr(t, lab, "b"), labAddr(t, lab, "b")
	const network = `
		link a b 1
		link a c 10`
	lab.StartCaddy("b", costlbCaddyfile("site b"+network, costlbRoute(listenB, `
		name web
		backend b %s
		health_interval 100ms
		health_timeout 100ms`, b1.Addr()))+labStatusSite(lab, "b", statusB), "caddyfile")
	ca := lab.StartCaddy("a", costlbCaddyfile("site a"+network, costlbRoute(listenA, `
		name web
		%s
		backend c %s
		health_interval %v
		health_timeout 400ms`, gatewayBackend("b", listenB, statusB, "web"), c1.Addr(), interval)), "caddyfile")
	waitGateway(t, ca, "web", listenB, true)
	if gw := mustBackend(t, mustService(t, mustView(t, ca), "web"), listenB); fmt.Sprint(gw.Routes) != "[a→b@1]" || gw.PathCost != 1 {
		t.Errorf("gateway in a's view: routes %v, path cost %d; want [a→b@1], 1", gw.Routes, gw.PathCost)
	}
	for i := range 5 {
		start := time.Now()
		name, err := harness.Once(listenA, dialTimeout)
		if err != nil || name != "b1" {
			t.Fatalf("connection %d through a reached %q (%v), want b1 through the gateway", i, name, err)
		}
		// host→a, then a→b's Caddy and b's Caddy→b1 (same site), and the
		// greeting back: at least one a–b round trip
		if d := time.Since(start); d < 2*oneWay {
			t.Errorf("connection %d took %v, less than the a–b round trip %v", i, d, 2*oneWay)
		}
	}

	b1.Stop()
	killed := time.Now()
	probes := probeUntil(listenA, killed.Add(2*interval), killed.Add(2*interval+time.Second), 20*time.Millisecond)
	took := checkSwitch(t, probes, killed, killed.Add(2*interval), "c1")
	t.Logf("failover: the last connection not served by c started %v after b's backend died (bound %v)", took.Round(time.Millisecond), 2*interval)
	if gw := mustBackend(t, mustService(t, mustView(t, ca), "web"), listenB); gw.Ready == nil || *gw.Ready || gw.Available {
		t.Errorf("gateway after the failover: ready %v, available %t; want not ready, unavailable", gw.Ready, gw.Available)
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
	t.Logf("failback: the last connection not served by b started %v after b's backend returned (bound %v)", took.Round(time.Millisecond), 2*interval)
}
