package integration

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// readyServer is an in-process readiness endpoint whose answer the test
// chooses.
func readyServer(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestReadinessBadGateways: gateways whose readiness answers slowly (past
// the timeout), with garbage, with a 500, with a huge body, with a reset,
// or where nothing listens are not ready and get no connection; a good
// gateway and a plain backend of the same service serve as usual.
func TestReadinessBadGateways(t *testing.T) {
	var okReady atomic.Bool
	okReady.Store(true)
	answers := map[string]http.HandlerFunc{
		"slow": func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
			fmt.Fprint(w, `{"ready": true, "routes": [{"sites": ["G"], "cost": 0}]}`)
		},
		"garbage": func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ready!!\x00") },
		"500":     func(w http.ResponseWriter, r *http.Request) { http.Error(w, `{"ready": true}`, 500) },
		"huge": func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"ready": true, "routes": [{"sites": ["G"], "cost": 0}], "pad": "`+strings.Repeat("x", 200<<10)+`"}`)
		},
		"reset": func(w http.ResponseWriter, r *http.Request) {
			if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
				conn.(*net.TCPConn).SetLinger(0)
				conn.Close()
			}
		},
		"ok": func(w http.ResponseWriter, r *http.Request) {
			if !okReady.Load() {
				w.WriteHeader(503)
				fmt.Fprint(w, `{"ready": false, "routes": []}`)
				return
			}
			fmt.Fprint(w, `{"ready": true, "routes": [{"sites": ["G"], "cost": 0}]}`)
		},
	}
	reasons := map[string]string{
		"slow": "no answer within the timeout 300ms", "garbage": "not costlb readiness JSON", "500": "answered 500",
		"huge": "answer larger than 65536 bytes", "reset": "reset", "closed": "refused", "ok": "",
	}
	gws := map[string]*harness.Backend{}
	handler := "name web"
	for name := range reasons {
		gws[name] = harness.StartBackend(t, "gw-"+name) // accepts TCP: health checks pass
		url := harness.FreeAddr(t)                      // "closed": nothing listens there
		if h := answers[name]; h != nil {
			url = strings.TrimPrefix(readyServer(t, h), "http://")
		}
		handler += fmt.Sprintf(`
			backend G %s {
				ready http://%s/ready/web
			}`, gws[name].Addr(), url)
	}
	c1 := harness.StartBackend(t, "c1")
	listen := harness.FreeAddr(t)
	c := harness.StartCaddy(t, siteCaddyfile(`
		site A
		link A G 1
		link A C 10`, listen, fmt.Sprintf(`%s
		backend C %s
		health_interval 200ms
		health_timeout 300ms`, handler, c1.Addr()), ""), "caddyfile")

	waitGateway(t, c, "web", gws["ok"].Addr(), true)
	harness.WaitFor(t, 10*time.Second, func() bool {
		for name, gw := range gws {
			b := mustBackend(t, mustService(t, mustView(t, c), "web"), gw.Addr())
			if name != "ok" && (b.NotReadyReason == "" || b.NotReadyReason == "no answer yet") {
				return false
			}
		}
		return true
	}, "every gateway answered once")
	svc := mustService(t, mustView(t, c), "web")
	for name, gw := range gws {
		b := mustBackend(t, svc, gw.Addr())
		wantReady := name == "ok"
		if b.Ready == nil || *b.Ready != wantReady || b.Available != wantReady || !b.Healthy || !strings.Contains(b.NotReadyReason, reasons[name]) {
			t.Errorf("gateway %s: ready %v, available %t, healthy %t, reason %q; want ready %t, healthy, reason containing %q",
				name, b.Ready, b.Available, b.Healthy, b.NotReadyReason, wantReady, reasons[name])
		}
	}
	for i := 0; i < 20; i++ {
		if name, err := harness.Once(listen, dialTimeout); err != nil || name != "gw-ok" {
			t.Fatalf("connection %d reached %q (%v), want gw-ok, the one ready gateway", i, name, err)
		}
	}
	okReady.Store(false)
	waitGateway(t, c, "web", gws["ok"].Addr(), false)
	for i := 0; i < 20; i++ {
		if name, err := harness.Once(listen, dialTimeout); err != nil || name != "c1" {
			t.Fatalf("connection %d reached %q (%v), want c1 with no gateway ready", i, name, err)
		}
	}
	if strings.Contains(c.Logs(), "panic") {
		t.Errorf("Caddy logged a panic:\n%s", c.Logs())
	}
}

// TestReadinessReloadNoFlap: reloads of the gateway's Caddy (B) and of the
// polling Caddy (A) keep A's view of B ready the whole time: one "ready"
// log line, never a "not ready" one. After each reload the test waits
// for A to poll B three times (a relay in front of B's status endpoint
// counts the polls) and for three reads of A's view.
func TestReadinessReloadNoFlap(t *testing.T) {
	b1 := harness.StartBackend(t, "b1")
	listenA, listenB, statusB := harness.FreeAddr(t), harness.FreeAddr(t), harness.FreeAddr(t)
	relayB, polls := countingRelay(t, statusB)
	bConfig := func(cost int) string {
		return siteCaddyfile(fmt.Sprintf(`
			site B
			link A B %d`, cost), listenB, fmt.Sprintf(`
			name web
			backend B %s`, b1.Addr()), statusB)
	}
	aConfig := func(cost int) string {
		return siteCaddyfile(fmt.Sprintf(`
			site A
			link A B %d`, cost), listenA, fmt.Sprintf(`
			name web
			%s
			health_interval 100ms
			health_timeout 500ms`, gatewayBackend("B", listenB, relayB, "web")), "")
	}
	cb := harness.StartCaddy(t, bConfig(1), "caddyfile")
	ca := harness.StartCaddy(t, aConfig(1), "caddyfile")
	waitGateway(t, ca, "web", listenB, true)

	var views, notReady atomic.Int64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			v, _, err := fetchView(ca)
			if err != nil {
				continue // A's own admin restarts on its reloads
			}
			views.Add(1)
			if b := v.service("web").backend(listenB); b == nil || b.Ready == nil || !*b.Ready {
				notReady.Add(1)
			}
		}
	}()
	const reloads = 6
	for i := 0; i < reloads; i++ {
		c, cfg := cb, bConfig(2+i)
		if i%2 == 1 {
			c, cfg = ca, aConfig(2+i)
		}
		if status, body, err := c.Load([]byte(cfg), "text/caddyfile"); err != nil || status != http.StatusOK {
			t.Fatalf("reload %d: %d %v %s", i, status, err, body)
		}
		p0, v0 := polls.Load(), views.Load()
		harness.WaitFor(t, 10*time.Second, func() bool { return polls.Load() >= p0+3 && views.Load() >= v0+3 },
			fmt.Sprintf("reload %d: 3 polls of B by A and 3 reads of A's view", i))
	}
	close(stop)
	<-done
	if notReady.Load() != 0 {
		t.Errorf("A's view of B: not ready in %d of %d reads across %d reloads; want 0", notReady.Load(), views.Load(), reloads)
	}
	if logs := ca.Logs(); strings.Count(logs, "costlb gateway ready") != 1 || strings.Contains(logs, "costlb gateway not ready") {
		t.Errorf("A logged %d 'gateway ready' and %d 'gateway not ready' lines; want 1 and 0 (no flap)",
			strings.Count(logs, "costlb gateway ready"), strings.Count(logs, "costlb gateway not ready"))
	}
	if name, err := harness.Once(listenA, dialTimeout); err != nil || name != "b1" {
		t.Errorf("after the reloads a connection reached %q (%v), want b1", name, err)
	}
}

// TestReadinessPollersStopWithConfig: 100 reloads that each change a
// gateway's readiness URL leave exactly one poller running, the goroutine
// total where it was, and a config without gateways none.
func TestReadinessPollersStopWithConfig(t *testing.T) {
	gw := harness.StartBackend(t, "gw")
	var polls atomic.Int64
	url := readyServer(t, func(w http.ResponseWriter, r *http.Request) {
		polls.Add(1)
		fmt.Fprint(w, `{"ready": true, "routes": [{"sites": ["B"], "cost": 0}]}`)
	})
	listen := harness.FreeAddr(t)
	config := func(gen int) string {
		backend := "backend A 127.0.0.1:1"
		if gen >= 0 {
			backend = fmt.Sprintf(`backend B %s {
				ready %s/ready/web?gen=%d
			}`, gw.Addr(), url, gen)
		}
		return siteCaddyfile(`
			site A
			link A B 1`, listen, fmt.Sprintf(`
			name web
			%s
			health_interval 50ms`, backend), "")
	}
	c := harness.StartCaddy(t, config(0), "caddyfile")
	waitGateway(t, c, "web", gw.Addr(), true)
	pollers, before := pollerGoroutines(t, c)
	if pollers != 1 {
		t.Fatalf("%d pollers with one gateway, want 1", pollers)
	}
	for gen := 1; gen <= 100; gen++ {
		if status, body, err := c.Load([]byte(config(gen)), "text/caddyfile"); err != nil || status != http.StatusOK {
			t.Fatalf("reload %d: %d %v %s", gen, status, err, body)
		}
	}
	waitGateway(t, c, "web", gw.Addr(), true)
	var after int
	harness.WaitFor(t, 5*time.Second, func() bool {
		pollers, after = pollerGoroutines(t, c)
		return pollers == 1 && after <= before+5
	}, "one poller and the goroutine total back where it was after 100 reloads")
	t.Logf("goroutines: %d before, %d after 100 reloads (1 poller)", before, after)

	if status, body, err := c.Load([]byte(config(-1)), "text/caddyfile"); err != nil || status != http.StatusOK {
		t.Fatalf("reload without a gateway: %d %v %s", status, err, body)
	}
	harness.WaitFor(t, 5*time.Second, func() bool {
		pollers, _ = pollerGoroutines(t, c)
		return pollers == 0
	}, "no poller once no config has a gateway")
	n := polls.Load()
	time.Sleep(300 * time.Millisecond)
	if polls.Load() != n {
		t.Errorf("the readiness URL was still polled after the gateway left the config (%d then %d)", n, polls.Load())
	}
}

// TestStatusHandlerRoutes: costlb_status answers /ready/<service> with 200,
// 503 or 404, /status.json with the admin view, / with a page, and 405 to
// anything but GET and HEAD.
func TestStatusHandlerRoutes(t *testing.T) {
	a1, c1 := harness.StartBackend(t, "a1"), harness.StartBackend(t, "c1")
	listen, down, status := harness.FreeAddr(t), harness.FreeAddr(t), harness.FreeAddr(t)
	cf := costlbCaddyfile(`
		site A
		link A C 10`,
		costlbRoute(listen, `
			name web
			backend A %s
			backend C %s`, a1.Addr(), c1.Addr()),
		costlbRoute(down, `
			name down
			backend A %s
			health_interval 100ms`, harness.FreeAddr(t)),
	) + statusSite(status)
	c := harness.StartCaddy(t, cf, "caddyfile")

	if code, doc, err := getReady(status, "web"); err != nil || code != 200 || doc.Service != "web" || doc.Site != "A" ||
		fmt.Sprint(doc.Routes) != "[A@0 A→C@10]" {
		t.Errorf("GET /ready/web: %d %+v %v; want 200, service web, site A, routes [A@0 A→C@10]", code, doc, err)
	}
	waitReadyChange(t, status, "down", false, 5*time.Second)
	if code, doc, err := getReady(status, "down"); err != nil || code != 503 || doc.Routes == nil || len(doc.Routes) != 0 {
		t.Errorf("GET /ready/down: %d %+v %v; want 503 with no routes", code, doc, err)
	}
	get := func(method, path string) (*http.Response, string) {
		req, _ := http.NewRequest(method, "http://"+status+path, nil)
		resp, err := statusClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp, string(body)
	}
	if resp, body := get("GET", "/ready/nope"); resp.StatusCode != 404 || !strings.Contains(body, `no costlb service \"nope\"`) {
		t.Errorf("GET /ready/nope: %d %s; want 404 naming the service", resp.StatusCode, body)
	}
	for _, m := range []string{"POST", "PUT", "DELETE"} {
		if resp, body := get(m, "/ready/web"); resp.StatusCode != 405 || resp.Header.Get("Allow") != "GET, HEAD" || !strings.Contains(body, "read-only") {
			t.Errorf("%s /ready/web: %d, Allow %q, %s; want 405 with Allow: GET, HEAD", m, resp.StatusCode, resp.Header.Get("Allow"), body)
		}
	}
	if resp, body := get("HEAD", "/ready/web"); resp.StatusCode != 200 || body != "" {
		t.Errorf("HEAD /ready/web: %d with %d bytes; want 200 and no body", resp.StatusCode, len(body))
	}
	if resp, body := get("GET", "/"); resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") || !strings.Contains(body, "status.json") {
		t.Errorf("GET /: %d %q; want 200, an HTML page", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	resp, body := get("GET", "/status.json")
	var page lbView
	if err := json.Unmarshal([]byte(body), &page); err != nil || resp.StatusCode != 200 {
		t.Fatalf("GET /status.json: %d %v", resp.StatusCode, err)
	}
	admin := mustView(t, c)
	if page.LocalSite != admin.LocalSite || len(page.Services) != 2 || page.Services[0].Name != admin.Services[0].Name ||
		page.service("web").Ready != true || page.service("down").Ready != false {
		t.Errorf("status.json %+v\ndiffers from the admin view %+v", page, admin)
	}
	if resp, _ := get("GET", "/elsewhere"); resp.StatusCode != 404 {
		t.Errorf("GET /elsewhere: %d, want 404", resp.StatusCode)
	}
}
