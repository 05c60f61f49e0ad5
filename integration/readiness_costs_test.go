package integration

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// Costs travel with readiness: a gateway's path cost is the cost to its
// site plus the cheapest cost among its routes. Every site's config lists
// only its own links: what lies beyond a gateway is learned.

// costChain is the chain A → gateway B (cost 2) → gateway C (cost bc) →
// C's server c1, plus A's direct backend e1 in E (cost 9).
type costChain struct {
	a, b, c                   *harness.Caddy
	listenA, listenB, listenC string
	statusB, statusC          string
	c1, e1                    *harness.Backend
}

// costChainB is site B's Caddyfile, with its link to C at cost bc.
func (r *costChain) costChainB(bc int) string {
	return siteCaddyfile(fmt.Sprintf(`site B
		link A B 2
		link B C %d`, bc), r.listenB, `
		name web
		`+gatewayBackend("C", r.listenC, r.statusC, "web")+`
		health_interval 200ms
		health_timeout 150ms`, r.statusB)
}

func startCostChain(t *testing.T, interval time.Duration) *costChain {
	r := &costChain{c1: harness.StartBackend(t, "c1"), e1: harness.StartBackend(t, "e1")}
	r.listenA, r.listenB, r.listenC = harness.FreeAddr(t), harness.FreeAddr(t), harness.FreeAddr(t)
	r.statusB, r.statusC = harness.FreeAddr(t), harness.FreeAddr(t)
	r.c = harness.StartCaddy(t, siteCaddyfile(`site C
		link B C 3`, r.listenC, fmt.Sprintf(`
		name web
		backend C %s
		health_interval 200ms
		health_timeout 150ms`, r.c1.Addr()), r.statusC), "caddyfile")
	r.b = harness.StartCaddy(t, r.costChainB(3), "caddyfile")
	r.a = harness.StartCaddy(t, siteCaddyfile(`site A
		link A B 2
		link A E 9`, r.listenA, fmt.Sprintf(`
		name web
		%s
		backend E %s
		health_interval %v
		health_timeout %v`, gatewayBackend("B", r.listenB, r.statusB, "web"), r.e1.Addr(), interval, interval*4/5), ""), "caddyfile")
	return r
}

// reloadB loads B's config with its link to C at cost bc, and returns
// when the reload is done.
func (r *costChain) reloadB(t *testing.T, bc int) time.Time {
	t.Helper()
	cf := strings.ReplaceAll(r.costChainB(bc), harness.AdminPlaceholder, r.b.AdminAddr())
	if st, body, err := r.b.Load([]byte(cf), "text/caddyfile"); err != nil || st != 200 {
		t.Fatalf("reloading B with B–C %d: %d %v %s", bc, st, err, body)
	}
	return time.Now()
}

// gatewayCost waits until A's view shows the gateway B at path cost
// total = 2 + onward.
func (r *costChain) waitGatewayCost(t *testing.T, onward int64) {
	t.Helper()
	harness.WaitFor(t, 10*time.Second, func() bool {
		gw := mustBackend(t, mustService(t, mustView(t, r.a), "web"), r.listenB)
		return gw.Available && gw.SiteCost == 2 && gw.OnwardCost == onward && gw.PathCost == 2+onward
	}, fmt.Sprintf("A sees gateway B at path cost 2 + %d", onward))
}

// checkCostMetric checks A's gateway_path_cost metric of B.
func (r *costChain) checkCostMetric(t *testing.T, want float64) {
	t.Helper()
	key := fmt.Sprintf(`caddy_costlb_gateway_path_cost{service="web",upstream=%q}`, r.listenB)
	if m := metricValues(t, r.a, "caddy_costlb_gateway_path_cost"); m[key] != want {
		t.Errorf("A's metric %s = %v, want %v (in %v)", key, m[key], want, m)
	}
}

// switchTo probes A from the change on and checks that within bound every
// connection reaches want and none fails; it returns when the last
// connection not served by want started.
func (r *costChain) switchTo(t *testing.T, changed time.Time, bound time.Duration, want string) time.Duration {
	t.Helper()
	probes := probeUntil(r.listenA, changed.Add(bound), changed.Add(bound+time.Second), 20*time.Millisecond)
	checkNoneFailed(t, probes, changed)
	return checkSwitch(t, probes, changed, changed.Add(bound), want)
}

// TestReadinessCostChain: A uses B while 2 + 3 < 9; B's link to C raised
// to 8 (a reload of B alone) makes B cost 10 from A, and A moves to E
// within two of its poll intervals with no connection failing; lowered
// again, A comes back. Every config lists only its own links: A knows
// nothing of C.
func TestReadinessCostChain(t *testing.T) {
	const interval = 500 * time.Millisecond
	r := startCostChain(t, interval)
	waitGateway(t, r.a, "web", r.listenB, true)
	r.waitGatewayCost(t, 3)
	gw := mustBackend(t, mustService(t, mustView(t, r.a), "web"), r.listenB)
	if fmt.Sprint(gw.Routes) != "[A→B→C@5]" {
		t.Errorf("A's view of gateway B: routes %v, want [A→B→C@5] (C learned from B)", gw.Routes)
	}
	if v := mustView(t, r.a); fmt.Sprint(mustService(t, v, "web").Routes) != "[A→B→C@5 A→E@9]" {
		t.Errorf("A's own routes %v, want [A→B→C@5 A→E@9]", mustService(t, v, "web").Routes)
	}
	if _, doc, err := getReady(r.statusB, "web"); err != nil || fmt.Sprint(doc.Routes) != "[B→C@3]" {
		t.Errorf("B's readiness %+v (%v), want routes [B→C@3]", doc, err)
	}
	r.checkCostMetric(t, 5)
	for i := 0; i < 5; i++ {
		if name, err := harness.Once(r.listenA, dialTimeout); err != nil || name != "c1" {
			t.Fatalf("connection %d through A reached %q (%v), want c1 through B and C (5 < 9)", i, name, err)
		}
	}

	changed := r.reloadB(t, 8)
	took := r.switchTo(t, changed, 2*interval, "e1")
	t.Logf("B–C raised to 8: A's last connection through B started %v after B's reload (bound %v)", took.Round(time.Millisecond), 2*interval)
	r.waitGatewayCost(t, 8)
	r.checkCostMetric(t, 10)
	if name, err := harness.Once(r.listenB, dialTimeout); err != nil || name != "c1" {
		t.Errorf("B itself still serves through C: reached %q (%v)", name, err)
	}

	changed = r.reloadB(t, 3)
	took = r.switchTo(t, changed, 2*interval, "c1")
	t.Logf("B–C lowered to 3: A's last connection to E started %v after B's reload (bound %v)", took.Round(time.Millisecond), 2*interval)
}

// TestReadinessCostSplit: held connections through two gateways with
// different onward costs land as perceived cost = cost to the gateway's
// site + its onward cost + live connections says: B at 1 + 4 (its backend
// in C) and D at 2 + 0 (its own server).
func TestReadinessCostSplit(t *testing.T) {
	c1, d1 := harness.StartBackend(t, "c1"), harness.StartBackend(t, "d1")
	listenA, listenB, listenD := harness.FreeAddr(t), harness.FreeAddr(t), harness.FreeAddr(t)
	statusB, statusD := harness.FreeAddr(t), harness.FreeAddr(t)
	checks := `
		health_interval 200ms
		health_timeout 150ms`
	harness.StartCaddy(t, siteCaddyfile(`site B
		link A B 1
		link B C 4`, listenB, "name web\nbackend C "+c1.Addr()+checks, statusB), "caddyfile")
	harness.StartCaddy(t, siteCaddyfile(`site D
		link A D 2`, listenD, "name web\nbackend D "+d1.Addr()+checks, statusD), "caddyfile")
	ca := harness.StartCaddy(t, siteCaddyfile(`site A
		link A B 1
		link A D 2`, listenA, "name web\n"+gatewayBackend("B", listenB, statusB, "web")+"\n"+
		gatewayBackend("D", listenD, statusD, "web")+checks, ""), "caddyfile")
	harness.WaitFor(t, 10*time.Second, func() bool {
		s := mustService(t, mustView(t, ca), "web")
		return fmt.Sprint(s.Routes) == "[A→D@2 A→B→C@5]" && mustBackend(t, s, listenB).Available && mustBackend(t, s, listenD).Available
	}, "A offers [A→D@2 A→B→C@5], both gateways available")
	gb := mustBackend(t, mustService(t, mustView(t, ca), "web"), listenB)
	if gb.PathCost != 5 || gb.SiteCost != 1 || gb.OnwardCost != 4 || gb.Perceived != 5 {
		t.Errorf("gateway B in A's view: path %d = %d + %d, perceived %d; want 5 = 1 + 4, perceived 5", gb.PathCost, gb.SiteCost, gb.OnwardCost, gb.Perceived)
	}

	const n = 10
	got, _ := holdN(t, listenA, n)
	want := expectHeld([]ruleBackend{{"c1", 5}, {"d1", 2}}, nil, n)
	t.Logf("%d held connections: %v (rule: %v)", n, got, want)
	if !sameCounts(got, want) {
		t.Fatalf("%d held connections reached %v, want %v (B at 1 + 4, D at 2 + 0, + live)", n, got, want)
	}
}

// TestReadinessBadCosts: a fake gateway answering routes with bad costs
// is refused with a reason that names the value, and the service's other
// backend serves meanwhile; a good answer makes it ready again.
func TestReadinessBadCosts(t *testing.T) {
	g1, e1 := harness.StartBackend(t, "g1"), harness.StartBackend(t, "e1")
	var answer atomic.Value
	answer.Store(`{"sites": ["G"], "cost": 0}`)
	fake := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, `{"service": "web", "site": "G", "ready": true, "routes": [%s]}`, answer.Load())
	}))
	defer fake.Close()
	listen := harness.FreeAddr(t)
	ca := harness.StartCaddy(t, siteCaddyfile(`site A
		link A G 1
		link A E 9`, listen, fmt.Sprintf(`
		name web
		backend G %s {
			ready %s/ready/web
		}
		backend E %s
		health_interval 200ms
		health_timeout 150ms`, g1.Addr(), fake.URL, e1.Addr()), ""), "caddyfile")
	waitGateway(t, ca, "web", g1.Addr(), true)
	if name, err := harness.Once(listen, dialTimeout); err != nil || name != "g1" {
		t.Fatalf("with a good answer: reached %q (%v), want g1", name, err)
	}
	for _, bad := range []struct{ route, reason string }{
		{`{"sites": ["G"], "cost": -1}`, "cost -1 is negative"},
		{`{"sites": ["G"], "cost": 1.5}`, "cost 1.5 is not a whole number"},
		{`{"sites": ["G"], "cost": "x"}`, `cost "x" is not a number`},
		{`{"sites": ["G"], "cost": 4611686018427387904}`, "cost 4611686018427387904 is too large"},
		{`{"sites": ["G"]}`, "no cost"},
		{`{"sites": ["G", "<script>x y</script>"], "cost": 1}`, "contains whitespace"},
	} {
		answer.Store(bad.route)
		var gw *lbBackend
		harness.WaitFor(t, 10*time.Second, func() bool {
			gw = mustBackend(t, mustService(t, mustView(t, ca), "web"), g1.Addr())
			return gw.Ready != nil && !*gw.Ready && strings.Contains(gw.NotReadyReason, bad.reason)
		}, fmt.Sprintf("the gateway refused for %s", bad.reason))
		if len(gw.DroppedRoutes) != 1 || !strings.Contains(gw.DroppedRoutes[0], bad.reason) {
			t.Errorf("answer %s: dropped routes %q, want one naming %q", bad.route, gw.DroppedRoutes, bad.reason)
		}
		if !strings.Contains(gw.NotReadyReason, "a route's cost must be a whole number from 0 to 1099511627776") && strings.Contains(bad.reason, "cost") {
			t.Errorf("answer %s: reason %q does not say what is allowed", bad.route, gw.NotReadyReason)
		}
		for i := 0; i < 3; i++ {
			if name, err := harness.Once(listen, dialTimeout); err != nil || name != "e1" {
				t.Fatalf("answer %s: connection %d reached %q (%v), want e1", bad.route, i, name, err)
			}
		}
	}
	// a bad route beside a good one: the good one serves, the bad one is shown
	answer.Store(`{"sites": ["G"], "cost": -7}, {"sites": ["G", "H"], "cost": 2}`)
	harness.WaitFor(t, 10*time.Second, func() bool {
		gw := mustBackend(t, mustService(t, mustView(t, ca), "web"), g1.Addr())
		return gw.Available && gw.PathCost == 3 && len(gw.DroppedRoutes) == 1 && strings.Contains(gw.DroppedRoutes[0], "cost -7 is negative")
	}, "the gateway ready at 1 + 2 with the route at -7 dropped and shown")
	if name, err := harness.Once(listen, dialTimeout); err != nil || name != "g1" {
		t.Fatalf("with one good route: reached %q (%v), want g1 (3 < 9)", name, err)
	}
}

// TestReadinessCostPropagation: a cost change two gateways away reaches
// the asking site within (2 + 1) poll intervals, with no reload of A or
// B. A → gateway B (2) → gateway C (1) → C's plain backend d1 in D: C
// raises C–D from 1 to 10 and A, which sees B at 2 + 1 + 1 = 4 against
// E at 9, moves to E (2 + 1 + 10 = 13); it logs the time, for the note.
func TestReadinessCostPropagation(t *testing.T) {
	const interval = 500 * time.Millisecond // every site's poll interval
	d1, e1 := harness.StartBackend(t, "d1"), harness.StartBackend(t, "e1")
	listenA, listenB, listenC := harness.FreeAddr(t), harness.FreeAddr(t), harness.FreeAddr(t)
	statusB, statusC := harness.FreeAddr(t), harness.FreeAddr(t)
	checks := fmt.Sprintf(`
		health_interval %v
		health_timeout %v`, interval, interval*4/5)
	siteC := func(cd int) string {
		return siteCaddyfile(fmt.Sprintf(`site C
			link B C 1
			link C D %d`, cd), listenC, "name web\nbackend D "+d1.Addr()+checks, statusC)
	}
	cc := harness.StartCaddy(t, siteC(1), "caddyfile")
	harness.StartCaddy(t, siteCaddyfile(`site B
		link A B 2
		link B C 1`, listenB, "name web\n"+gatewayBackend("C", listenC, statusC, "web")+checks, statusB), "caddyfile")
	ca := harness.StartCaddy(t, siteCaddyfile(`site A
		link A B 2
		link A E 9`, listenA, "name web\n"+gatewayBackend("B", listenB, statusB, "web")+"\nbackend E "+e1.Addr()+checks, ""), "caddyfile")
	harness.WaitFor(t, 10*time.Second, func() bool {
		return fmt.Sprint(mustService(t, mustView(t, ca), "web").Routes) == "[A→B→C→D@4 A→E@9]"
	}, "A offers [A→B→C→D@4 A→E@9]")
	if name, err := harness.Once(listenA, dialTimeout); err != nil || name != "d1" {
		t.Fatalf("through A at 4 < 9: reached %q (%v), want d1", name, err)
	}

	cf := strings.ReplaceAll(siteC(10), harness.AdminPlaceholder, cc.AdminAddr())
	if st, body, err := cc.Load([]byte(cf), "text/caddyfile"); err != nil || st != 200 {
		t.Fatalf("reloading C: %d %v %s", st, err, body)
	}
	changed := time.Now()
	bound := 3 * interval
	probes := probeUntil(listenA, changed.Add(bound), changed.Add(bound+time.Second), 20*time.Millisecond)
	checkNoneFailed(t, probes, changed)
	took := checkSwitch(t, probes, changed, changed.Add(bound), "e1")
	t.Logf("C–D raised to 10, two gateways from A: A's last connection to d1 started %v after C's reload (bound (2+1) x %v)", took.Round(time.Millisecond), interval)
	harness.WaitFor(t, 5*time.Second, func() bool {
		gw := mustBackend(t, mustService(t, mustView(t, ca), "web"), listenB)
		return gw.PathCost == 13 && gw.OnwardCost == 11
	}, "A sees B at 2 + 11")
}

// TestReadinessGatewayLooksFar: A has gateways B (link 1) and D (link 5).
// B serves with its own server, else through its backend in C (link 20).
// B's own server dies: B is still ready, through C, but A now sees B at
// 1 + 20 and sends every new connection to D at 5, none failing; B's
// server returns and A comes back to B.
func TestReadinessGatewayLooksFar(t *testing.T) {
	const interval = 500 * time.Millisecond // A's poll interval
	b1, c1, d1 := harness.StartBackend(t, "b1"), harness.StartBackend(t, "c1"), harness.StartBackend(t, "d1")
	listenA, listenB, listenD := harness.FreeAddr(t), harness.FreeAddr(t), harness.FreeAddr(t)
	statusB, statusD := harness.FreeAddr(t), harness.FreeAddr(t)
	// B checks its own servers every 100 ms: what A learns can be no fresher
	harness.StartCaddy(t, siteCaddyfile(`site B
		link A B 1
		link B C 20`, listenB, fmt.Sprintf(`
		name web
		backend B %s
		backend C %s
		health_interval 100ms
		health_timeout 100ms`, b1.Addr(), c1.Addr()), statusB), "caddyfile")
	harness.StartCaddy(t, siteCaddyfile(`site D
		link A D 5`, listenD, "name web\nbackend D "+d1.Addr()+`
		health_interval 100ms
		health_timeout 100ms`, statusD), "caddyfile")
	ca := harness.StartCaddy(t, siteCaddyfile(`site A
		link A B 1
		link A D 5`, listenA, fmt.Sprintf(`
		name web
		%s
		%s
		health_interval %v
		health_timeout %v`, gatewayBackend("B", listenB, statusB, "web"), gatewayBackend("D", listenD, statusD, "web"), interval, interval*4/5), ""), "caddyfile")
	harness.WaitFor(t, 10*time.Second, func() bool {
		return fmt.Sprint(mustService(t, mustView(t, ca), "web").Routes) == "[A→B@1 A→D@5 A→B→C@21]"
	}, "A offers [A→B@1 A→D@5 A→B→C@21]")
	if name, err := harness.Once(listenA, dialTimeout); err != nil || name != "b1" {
		t.Fatalf("through A with B's server up: reached %q (%v), want b1", name, err)
	}

	b1.Stop()
	stopped := time.Now()
	bound := 2*interval + 300*time.Millisecond // B's checks see it, then A's next polls
	probes := probeUntil(listenA, stopped.Add(bound), stopped.Add(bound+time.Second), 20*time.Millisecond)
	took := checkSwitch(t, probes, stopped, stopped.Add(bound), "d1")
	t.Logf("B's own server died: A's last connection not to D started %v after (bound %v)", took.Round(time.Millisecond), bound)
	gw := mustBackend(t, mustService(t, mustView(t, ca), "web"), listenB)
	if !gw.Available || gw.PathCost != 21 || fmt.Sprint(gw.Routes) != "[A→B→C@21]" {
		t.Errorf("gateway B after its server died: available %t, path cost %d, routes %v; want available at 21 through C", gw.Available, gw.PathCost, gw.Routes)
	}

	b1.Restart()
	restarted := time.Now()
	harness.WaitFor(t, 10*time.Second, func() bool {
		return mustBackend(t, mustService(t, mustView(t, ca), "web"), listenB).PathCost == 1
	}, "A sees B at 1 again")
	t.Logf("B's own server back: A sees B at 1 again %v after", time.Since(restarted).Round(time.Millisecond))
	if name, err := harness.Once(listenA, dialTimeout); err != nil || name != "b1" {
		t.Fatalf("through A with B's server back: reached %q (%v), want b1", name, err)
	}
}
