package integration

// What the admin API shows: GET /costlb/, GET /costlb/graph.dot and /metrics
// tell the live truth, and keep telling it when a reload fails.

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// metricValues reads the admin /metrics endpoint and returns every sample
// whose name starts with prefix, keyed by name{labels} as printed.
func metricValues(t *testing.T, c *harness.Caddy, prefix string) map[string]float64 {
	t.Helper()
	status, body, err := c.Get("/metrics")
	if err != nil || status != 200 {
		t.Fatalf("GET /metrics: %d %v", status, err)
	}
	out := map[string]float64{}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, prefix) {
			continue
		}
		i := strings.LastIndexByte(line, ' ')
		v, err := strconv.ParseFloat(line[i+1:], 64)
		if err != nil {
			t.Fatalf("metric line %q: %v", line, err)
		}
		out[line[:i]] = v
	}
	return out
}

// TestAdminViewMetricsAndLogs drives a service with held connections, a
// killed backend and refused connections, and checks that GET /costlb/,
// GET /costlb/graph.dot, /metrics and the logs all tell the live truth.
func TestAdminViewMetricsAndLogs(t *testing.T) {
	east1 := harness.StartBackend(t, "east1")
	east2 := harness.StartBackend(t, "east2")
	west := harness.StartBackend(t, "west")
	dead := harness.StartBackend(t, "dead")
	dead.Stop()
	listen, listenDead := harness.FreeAddr(t), harness.FreeAddr(t)
	c := harness.StartCaddy(t, fmt.Sprintf(`{
	admin {ADMIN}
	costlb {
		site east
		link east west 5
		link west dr 9994
	}
	layer4 {
		%s {
			route {
				costlb {
					name obs
					backend east %s %s
					backend west %s
					link_cost east west 3
					health_interval 100ms
					health_timeout 200ms
					lb_try_duration 1s
					lb_try_interval 50ms
				}
			}
		}
		%s {
			route {
				costlb {
					name gone
					backend dr %s
					fail_duration 1m
				}
			}
		}
	}
}`, listen, east1.Addr(), east2.Addr(), west.Addr(), listenDead, dead.Addr()), "caddyfile")

	// 10 held connections: east1 0.., east2 0.., west 3.. (the override)
	got, conns := holdN(t, listen, 10)
	want := expectHeld([]ruleBackend{{"east1", 0}, {"east2", 0}, {"west", 3}}, nil, 10)
	if !sameCounts(got, want) {
		t.Fatalf("held connections landed %v, want %v", got, want)
	}
	byName := map[string]*harness.Backend{"east1": east1, "east2": east2, "west": west}

	v := mustView(t, c)
	if v.LocalSite != "east" || len(v.Services) != 2 {
		t.Fatalf("view: local %q, %d services", v.LocalSite, len(v.Services))
	}
	for _, s := range v.Sites {
		if s.Name == "dr" && (s.PathCost != 9999 || s.Hops != 2 || strings.Join(s.Path, ">") != "east>west>dr") {
			t.Fatalf("site dr: %+v, want path cost 9999 over east>west>dr", s)
		}
	}
	svc := v.Services[1]
	if svc.Name != "obs" || svc.PrimarySite != "east" {
		t.Fatalf("service %q primary %q", svc.Name, svc.PrimarySite)
	}
	for _, b := range svc.Backends {
		name := map[string]string{east1.Addr(): "east1", east2.Addr(): "east2", west.Addr(): "west"}[b.Address]
		wantPath := map[string]int64{"east1": 0, "east2": 0, "west": 3}[name]
		if b.Live != int64(want[name]) || b.PathCost != wantPath || b.Perceived != wantPath+b.Live ||
			b.Total != uint64(want[name]) || !b.Healthy || !b.Available {
			t.Errorf("backend %s: %+v; want live %d, path %d (service override), perceived path+live, total %d, healthy",
				name, b, want[name], wantPath, want[name])
		}
	}

	dot := getText(t, c, "/costlb/graph.dot")
	for _, line := range []string{
		`"site:east" -- "site:west" [label="5"];`,
		`"site:west" -- "site:dr" [label="9994"];`,
		fmt.Sprintf(`live %d, perceived %d`, want["west"], 3+want["west"]),
	} {
		if !strings.Contains(dot, line) {
			t.Errorf("graph.dot lacks %q:\n%s", line, dot)
		}
	}
	for name, b := range byName {
		re := regexp.MustCompile(regexp.QuoteMeta(`"backend:obs:`+b.Addr()+`" [label="obs\n`+b.Addr()+`\nlive `) + `(\d+),`)
		m := re.FindStringSubmatch(dot)
		if m == nil || m[1] != strconv.Itoa(want[name]) {
			t.Errorf("graph.dot live count of %s: %v, want %d", name, m, want[name])
		}
	}

	// the "gone" service's only backend is dead: the first connection's dial
	// fails and passive checks mark it down; the next two find no backend.
	// Each connection is closed without a byte.
	for i := 0; i < 3; i++ {
		if name, err := harness.Once(listenDead, dialTimeout); err == nil {
			t.Fatalf("connection to a dead-only service reached %q", name)
		}
	}

	m := metricValues(t, c, "caddy_costlb_")
	for name, b := range byName {
		key := fmt.Sprintf(`caddy_costlb_connections_total{service="obs",site="%s",upstream="%s"}`, map[bool]string{true: "west", false: "east"}[name == "west"], b.Addr())
		if m[key] != float64(want[name]) {
			t.Errorf("%s = %v, want %d", key, m[key], want[name])
		}
		key = fmt.Sprintf(`caddy_costlb_live_connections{upstream="%s"}`, b.Addr())
		if m[key] != float64(want[name]) {
			t.Errorf("%s = %v, want %d", key, m[key], want[name])
		}
	}
	for key, val := range map[string]float64{
		`caddy_costlb_path_cost{service="obs",site="west"}`:  3,
		`caddy_costlb_path_cost{service="obs",site="dr"}`:    9997,
		`caddy_costlb_path_cost{service="gone",site="dr"}`:   9999,
		`caddy_costlb_path_cost{service="gone",site="east"}`: 0,
	} {
		if m[key] != val {
			t.Errorf("%s = %v, want %v", key, m[key], val)
		}
	}
	if n := m[`caddy_costlb_connections_total{service="gone",site="dr",upstream="`+dead.Addr()+`"}`]; n != 1 {
		t.Errorf("gone service dial attempts: %v, want 1", n)
	}
	if n := m[`caddy_costlb_no_backend_total{service="gone"}`]; n != 2 {
		t.Errorf("gone service no_backend_total: %v, want 2", n)
	}
	if n := m[`caddy_costlb_no_backend_total{service="obs"}`]; n != 0 {
		t.Errorf("obs service no_backend_total: %v, want 0", n)
	}

	// kill east2: health checks mark it down and the view and the graph say
	// so. Its proxied connections stay open (and counted) until their
	// clients close them too: caddy-l4 passes the half-close on.
	east2.Stop()
	harness.WaitFor(t, 5*time.Second, func() bool {
		for _, b := range mustView(t, c).Services[1].Backends {
			if b.Address == east2.Addr() {
				return !b.Healthy && !b.Available && b.Live == int64(want["east2"])
			}
		}
		return false
	}, "east2 unhealthy in /costlb/, its half-closed connections still counted")
	wantDot := fmt.Sprintf(`%s\nlive %d, perceived %d\nunavailable", shape=box, style=dashed`, east2.Addr(), want["east2"], want["east2"])
	if dot := getText(t, c, "/costlb/graph.dot"); !strings.Contains(dot, wantDot) {
		t.Errorf("graph.dot does not show east2 unavailable (%s):\n%s", wantDot, dot)
	}
	for _, conn := range conns {
		conn.Close()
	}
	waitAllLiveZero(t, c, 5*time.Second) // every live count back to 0 after the clients closed
	if live := metricValues(t, c, "caddy_costlb_live_connections"); len(live) < 4 {
		t.Errorf("live_connections has %d series, want one per address (4): %v", len(live), live)
	} else {
		for k, v := range live {
			if v != 0 {
				t.Errorf("%s = %v after all closed", k, v)
			}
		}
	}
}

// TestNoBackendNotCountedForFailedDials: a connection whose retries all
// dial a backend that refuses (no passive health check to take it out) met
// a backend every time, so it is not counted in
// caddy_costlb_no_backend_total; one that met none is.
func TestNoBackendNotCountedForFailedDials(t *testing.T) {
	dead := harness.StartBackend(t, "dead")
	dead.Stop()
	dialing, passive := harness.FreeAddr(t), harness.FreeAddr(t)
	retries := `
		backend east %s
		lb_try_duration 300ms
		lb_try_interval 50ms`
	c := harness.StartCaddy(t, costlbCaddyfile("site east",
		costlbRoute(dialing, "name dialing"+retries, dead.Addr()),
		costlbRoute(passive, "name passive"+retries+`
		fail_duration 1m`, dead.Addr())), "caddyfile")
	for _, listen := range []string{dialing, dialing, passive, passive} {
		if name, err := harness.Once(listen, dialTimeout); err == nil {
			t.Fatalf("a connection to %s, whose only backend is dead, reached %q", listen, name)
		}
	}
	m := metricValues(t, c, "caddy_costlb_")
	dials := m[`caddy_costlb_connections_total{service="dialing",site="east",upstream="`+dead.Addr()+`"}`]
	if dials < 4 {
		t.Errorf("dialing: %v dials for 2 connections retried for 300ms every 50ms, want at least 4", dials)
	}
	if n := m[`caddy_costlb_no_backend_total{service="dialing"}`]; n != 0 {
		t.Errorf("dialing: no_backend_total %v after 2 connections whose every try dialed, want 0", n)
	}
	// passive: the first dial fails and takes the backend out; every later
	// try, and the second connection, find no backend
	if n := m[`caddy_costlb_no_backend_total{service="passive"}`]; n != 2 {
		t.Errorf("passive: no_backend_total %v, want 2", n)
	}
}

func getText(t *testing.T, c *harness.Caddy, path string) string {
	t.Helper()
	status, body, err := c.Get(path)
	if err != nil || status != 200 {
		t.Fatalf("GET %s: %d %v %s", path, status, err, body)
	}
	return string(body)
}

// TestAdminViewSurvivesFailedStart: a reload that fails while starting (its
// listener address is taken) leaves the running config serving, and the
// admin view keeps showing it. Caddy starts apps in map order, so the
// costlb app of the failed config may or may not have started before the
// layer4 app failed: reload enough times to meet both orders.
func TestAdminViewSurvivesFailedStart(t *testing.T) {
	east := harness.StartBackend(t, "east")
	listen := harness.FreeAddr(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	cfg := `{
	admin {ADMIN}
	costlb {
		site east
	}
	layer4 {
		%s {
			route {
				costlb {
					name %s
					backend east %s
				}
			}
		}
	}
}`
	c := harness.StartCaddy(t, fmt.Sprintf(cfg, listen, "running", east.Addr()), "caddyfile")
	for i := 0; i < 12; i++ {
		status, body, err := c.Load([]byte(fmt.Sprintf(cfg, taken.Addr().String(), "failing", east.Addr())), "text/caddyfile")
		if err != nil || status < 400 {
			t.Fatalf("reload onto a taken address: %d %v %s", status, err, body)
		}
		v := mustView(t, c)
		if len(v.Services) != 1 || v.Services[0].Name != "running" {
			t.Fatalf("after failed start %d the admin view shows %+v, want the running service", i, v.Services)
		}
		if name, err := harness.Once(listen, dialTimeout); err != nil || name != "east" {
			t.Fatalf("after failed start %d: %q %v", i, name, err)
		}
	}
}

// TestAdminAPIMethods: every route of the costlb admin API is read-only,
// as costlb_status is: HEAD answers as GET without a body, and any other
// method gets 405 with Allow: GET, HEAD.
func TestAdminAPIMethods(t *testing.T) {
	c := harness.StartCaddy(t, costlbCaddyfile("site east",
		costlbRoute(harness.FreeAddr(t), "name m\nbackend east %s", harness.FreeAddr(t))), "caddyfile")
	do := func(method, path string) (*http.Response, string) {
		t.Helper()
		req, err := http.NewRequest(method, c.AdminURL()+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("%s %s: reading the body: %v", method, path, err)
		}
		return resp, string(body)
	}
	for _, path := range []string{"/costlb/", "/costlb/?paths=all", "/costlb/graph.dot"} {
		get, body := do(http.MethodGet, path)
		if get.StatusCode != http.StatusOK || !strings.Contains(body, "east") {
			t.Fatalf("GET %s: %d %q", path, get.StatusCode, body)
		}
		head, headBody := do(http.MethodHead, path)
		if head.StatusCode != http.StatusOK || headBody != "" || head.Header.Get("Content-Type") != get.Header.Get("Content-Type") {
			t.Errorf("HEAD %s: %d, Content-Type %q, %d body bytes; want 200, GET's Content-Type %q, no body",
				path, head.StatusCode, head.Header.Get("Content-Type"), len(headBody), get.Header.Get("Content-Type"))
		}
		for _, m := range []string{http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions} {
			resp, body := do(m, path)
			if resp.StatusCode != http.StatusMethodNotAllowed || resp.Header.Get("Allow") != "GET, HEAD" ||
				!strings.Contains(body, "method "+m+" not allowed") || !strings.Contains(body, "use GET or HEAD") {
				t.Errorf("%s %s: %d, Allow %q, %s; want 405 with Allow: GET, HEAD, naming the method", m, path, resp.StatusCode, resp.Header.Get("Allow"), body)
			}
		}
	}
	if resp, body := do(http.MethodHead, "/costlb/nope"); resp.StatusCode != http.StatusNotFound || body != "" {
		t.Errorf("HEAD /costlb/nope: %d with %d body bytes; want 404 and no body", resp.StatusCode, len(body))
	}
}
