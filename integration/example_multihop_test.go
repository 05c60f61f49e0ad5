package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// TestMultiHopExample follows examples/multi-hop/README.md step by step:
// its commands in its order, waiting only where the README says a site
// learns something at its next readiness poll or after fail_duration.
func TestMultiHopExample(t *testing.T) {
	ports := map[string]string{}
	bCfg := example(t, "multi-hop/b.Caddyfile", ports)
	cb := harness.StartCaddy(t, bCfg, "caddyfile")
	ca := harness.StartCaddy(t, example(t, "multi-hop/a.Caddyfile", ports), "caddyfile")
	addr := func(p string) string { return "127.0.0.1" + ports[p] }
	curl := func(listen, want, when string) {
		t.Helper()
		got, err := httpVia(listen)
		if err != nil || !strings.Contains(want, "|"+got+"|") {
			t.Fatalf("%s: curl %s answered %q %v, want one of %s", when, listen, got, err, want)
		}
	}
	ready := func(wantStatus int, want, when string) {
		t.Helper()
		status, got, err := harness.GetHTTP("http://"+addr(":9390")+"/ready/web-ingress", dialTimeout)
		if err != nil || status != wantStatus || got != want {
			t.Fatalf("%s: b's readiness answered %d %s %v, want %d %s", when, status, got, err, wantStatus, want)
		}
	}

	// Run it: right after both have started
	curl(addr(":8380"), "|a|", "site a's first request")
	curl(addr(":8390"), "|b1|b2|", "site b's first request")
	ready(200, `{"service":"web-ingress","site":"b","ready":true,"routes":[{"sites":["b"],"cost":0}]}`, "at the start")
	// each site polls the other when it starts and every second; b's
	// first poll, before a ran, was refused
	waitGateway(t, ca, "web", addr(":8391"), true)
	waitGateway(t, cb, "web", addr(":8381"), true)

	// Load spills over: eight held at a, 6 on a's server (0 + live), 2 to
	// b's ingress (3 + live), which spreads them over b1 and b2
	held := openRaw(t, addr(":8380"), 8)
	var la, lb map[string]int64
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		la, lb = liveByAddress(t, ca, "web"), liveByAddress(t, cb, "web-ingress")
		if la[addr(":9301")] == 6 && la[addr(":8391")] == 2 && lb[addr(":9302")] == 1 && lb[addr(":9303")] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("README placement (a: 6 local + 2 to b; b's ingress: 1 + 1) not reached: site a web %v, site b web-ingress %v (ports %v)", la, lb, ports)
		}
	}
	if lw := liveByAddress(t, cb, "web"); lw[addr(":8381")] != 0 {
		t.Errorf("site b's web sent %d connections back to a: %v", lw[addr(":8381")], lw)
	}
	// wait: the eight connections close
	for _, c := range held {
		c.Close()
	}
	waitIdle(t, ca, "web")
	waitIdle(t, cb, "web-ingress")

	// Failover: the two DELETEs, then the curls at once
	for _, srv := range []string{"demo-b1", "demo-b2"} {
		if status, body, err := cb.Delete("/config/apps/http/servers/" + srv); err != nil || status != 200 {
			t.Fatalf("deleting %s: %d %v %s", srv, status, err, body)
		}
	}
	curl(addr(":8390"), "|a|", "site b's request right after its servers went")
	curl(addr(":8380"), "|a|", "site a's request right after b's servers went")
	ready(503, `{"service":"web-ingress","site":"b","ready":false,"routes":[]}`, "after b's servers went")
	// sleep 2: site a has polled b
	waitGateway(t, ca, "web", addr(":8391"), false)
	gw := mustBackend(t, mustService(t, mustView(t, ca), "web"), addr(":8391"))
	if !gw.Healthy || !strings.Contains(gw.NotReadyReason, "503") {
		t.Errorf("a's gateway after the failover: healthy %t, reason %q; want healthy, 503", gw.Healthy, gw.NotReadyReason)
	}
	if m := metricValues(t, ca, "caddy_costlb_gateway_ready"); m[fmt.Sprintf(`caddy_costlb_gateway_ready{service="web",upstream=%q}`, addr(":8391"))] != 0 {
		t.Errorf("gateway_ready metric %v, want 0 for %s", m, addr(":8391"))
	}
	if n := strings.Count(ca.Logs(), `"msg":"costlb gateway not ready"`); n != 1 || !strings.Contains(ca.Logs(), `"reason":"answered 503 Service Unavailable"`) {
		t.Errorf("site a logged %d 'gateway not ready' lines, want one, answered 503", n)
	}
	checkShifts(t, cb, "web", "costlb failover b->a")
	checkShifts(t, cb, "web-ingress", "costlb failover b->")

	// back: caddy reload, then sleep 2 and curl
	if status, body, err := cb.Load([]byte(bCfg), "text/caddyfile"); err != nil || status != 200 {
		t.Fatalf("reloading site b: %d %v %s", status, err, body)
	}
	harness.WaitFor(t, 10*time.Second, func() bool {
		got, err := httpVia(addr(":8390"))
		return err == nil && (got == "b1" || got == "b2")
	}, "site b's clients are served by b again")
	waitGateway(t, ca, "web", addr(":8391"), true)
	checkShifts(t, cb, "web", "costlb failover b->a", "costlb failback a->b")
	checkShifts(t, cb, "web-ingress", "costlb failover b->", "costlb failback ->b")
	// b's gateway to a was not ready only until a ran
	if n := strings.Count(cb.Logs(), `"msg":"costlb gateway not ready"`); n != 1 {
		t.Errorf("site b logged %d 'gateway not ready' lines, want the one of its first poll, before a ran", n)
	}
}
