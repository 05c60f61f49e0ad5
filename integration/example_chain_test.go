package integration

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// TestChainExample follows examples/chain/README.md: three sites, each
// config with only its own links; a reaches c through b while 2 + 3 < 9,
// moves to e when b's link to c is raised to 8 by a reload of b alone,
// and comes back when it is lowered again. Each site's /costlb/ shows
// what the README says.
func TestChainExample(t *testing.T) {
	ports := map[string]string{}
	cc := harness.StartCaddy(t, example(t, "chain/c.Caddyfile", ports), "caddyfile")
	bCfg := example(t, "chain/b.Caddyfile", ports)
	cb := harness.StartCaddy(t, bCfg, "caddyfile")
	ca := harness.StartCaddy(t, example(t, "chain/a.Caddyfile", ports), "caddyfile")
	addr := func(p string) string { return "127.0.0.1" + ports[p] }
	// curl 127.0.0.1:8480, until a has polled b and b has polled c
	harness.WaitFor(t, 15*time.Second, func() bool {
		got, err := httpVia(addr(":8480"))
		return err == nil && got == "c"
	}, "site a's clients are served by c, through b")

	// what each site's /costlb/ reports
	type want struct {
		c         *harness.Caddy
		routes    string
		backend   string
		path      [3]int64 // path cost = site cost + onward cost
		gwRoutes  string
		siteNames string
	}
	for site, w := range map[string]want{
		"a": {ca, "[a→b→c@5 a→e@9]", ":8481", [3]int64{5, 2, 3}, "[a→b→c@5]", "a b e"},
		"b": {cb, "[b→c@3]", ":8482", [3]int64{3, 3, 0}, "[b→c@3]", "a b c"},
		"c": {cc, "[c@0]", ":9403", [3]int64{0, 0, 0}, "", "b c"},
	} {
		harness.WaitFor(t, 10*time.Second, func() bool {
			return fmt.Sprint(mustService(t, mustView(t, w.c), "web").Routes) == w.routes
		}, fmt.Sprintf("site %s offers %s", site, w.routes))
		v := mustView(t, w.c)
		be := mustBackend(t, mustService(t, v, "web"), addr(w.backend))
		if got := [3]int64{be.PathCost, be.SiteCost, be.OnwardCost}; got != w.path || (w.gwRoutes != "" && fmt.Sprint(be.Routes) != w.gwRoutes) {
			t.Errorf("site %s: backend %s path cost %v, routes %v; want %v, %s", site, w.backend, got, be.Routes, w.path, w.gwRoutes)
		}
		var names []string
		for _, s := range v.Sites {
			names = append(names, s.Name)
		}
		slices.Sort(names)
		if strings.Join(names, " ") != w.siteNames {
			t.Errorf("site %s knows sites %q, want only %q (its own links)", site, names, w.siteNames)
		}
		doc, _ := json.Marshal(mustService(t, v, "web"))
		t.Logf("site %s: %s", site, doc)
	}

	for status, routes := range map[string]string{":9482": "[c@0]", ":9481": "[b→c@3]"} {
		if _, doc, err := getReady(addr(status), "web"); err != nil || fmt.Sprint(doc.Routes) != routes {
			t.Errorf("GET %s/ready/web: %+v %v, want routes %s", status, doc, err, routes)
		}
	}
	key := fmt.Sprintf(`caddy_costlb_gateway_path_cost{service="web",upstream=%q}`, addr(":8481"))
	if m := metricValues(t, ca, "caddy_costlb_gateway_path_cost"); m[key] != 5 {
		t.Errorf("a's %s = %v, want 5", key, m[key])
	}

	// raise b's link to c to 8 and reload b alone
	raised := strings.Replace(bCfg, "link b c 3", "link b c 8", 1)
	if raised == bCfg {
		t.Fatal("b.Caddyfile has no 'link b c 3' line")
	}
	reload := func(cfg, when string) time.Time {
		t.Helper()
		if status, body, err := cb.Load([]byte(strings.ReplaceAll(cfg, harness.AdminPlaceholder, cb.AdminAddr())), "text/caddyfile"); err != nil || status != 200 {
			t.Fatalf("reloading site b %s: %d %v %s", when, status, err, body)
		}
		return time.Now()
	}
	// a's poll interval is 1s: within two, every connection goes the new way
	const bound = 2 * time.Second
	changed := reload(raised, "with b-c 8")
	probes := curlUntil(addr(":8480"), changed.Add(bound), changed.Add(bound+time.Second))
	took := checkSwitch(t, probes, changed, changed.Add(bound), "e")
	checkNoneFailed(t, probes, changed)
	t.Logf("b-c raised to 8: a's last connection through b started %v after b's reload", took.Round(time.Millisecond))
	gw := mustBackend(t, mustService(t, mustView(t, ca), "web"), addr(":8481"))
	if gw.PathCost != 10 || gw.OnwardCost != 8 || fmt.Sprint(mustService(t, mustView(t, ca), "web").Routes) != "[a→e@9 a→b→c@10]" {
		t.Errorf("a after the raise: gateway b at %d (onward %d), routes %v; want 10 = 2 + 8, [a→e@9 a→b→c@10]",
			gw.PathCost, gw.OnwardCost, mustService(t, mustView(t, ca), "web").Routes)
	}

	if _, doc, err := getReady(addr(":9481"), "web"); err != nil || fmt.Sprint(doc.Routes) != "[b→c@8]" {
		t.Errorf("b's readiness after the raise: %+v %v, want routes [b→c@8]", doc, err)
	}
	if p := mustService(t, mustView(t, ca), "web").PrimarySite; p != "b" || strings.Contains(ca.Logs(), "costlb failover") {
		t.Errorf("a's primary site %q after the raise, failover logged: %t; want b, none (b still serves)", p, strings.Contains(ca.Logs(), "costlb failover"))
	}

	changed = reload(bCfg, "with b-c 3 again")
	probes = curlUntil(addr(":8480"), changed.Add(bound), changed.Add(bound+time.Second))
	took = checkSwitch(t, probes, changed, changed.Add(bound), "c")
	t.Logf("b-c back to 3: a's last connection to e started %v after b's reload", took.Round(time.Millisecond))
	checkNoneFailed(t, probes, changed)
}

// curlUntil is probeUntil for the examples' HTTP demo servers: one
// request after another through addr, 50 ms apart.
func curlUntil(addr string, from, until time.Time) []probe {
	return probeWith(func() (string, error) { return httpVia(addr) }, from, until, 50*time.Millisecond)
}
