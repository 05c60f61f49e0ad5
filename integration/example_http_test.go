package integration

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/costlb/costlb/integration/harness"
)

// TestHTTPExample follows examples/http/README.md.
func TestHTTPExample(t *testing.T) {
	ports := map[string]string{}
	// fail_duration shortened from 10s so the failback is quick to see
	cfg := strings.Replace(example(t, "http/Caddyfile", ports), "fail_duration 10s", "fail_duration 1s", 1)
	c := harness.StartCaddy(t, cfg, "caddyfile")
	waitHealthy(t, c, "shop")
	url := "http://127.0.0.1" + ports[":8080"] + "/"
	get := func(want, when string) {
		t.Helper()
		for i := 0; i < 3; i++ {
			if status, got, err := harness.GetHTTP(url, relTimeout); err != nil || status != 200 || got != want {
				t.Fatalf("%s, request %d: %d %q %v; want %s with no error", when, i, status, got, err, want)
			}
		}
	}
	get("east", "at the start")
	checkExampleView(t, c, ports)

	// the README deletes srv1 and srv2, the demo servers of east and west
	// at the example's own ports; with the ports moved, find them by port
	del := func(port string) {
		t.Helper()
		name := serverOn(t, c, ports[port])
		if status, body, err := c.Delete("/config/apps/http/servers/" + name); err != nil || status != 200 {
			t.Fatalf("deleting the demo server on %s: %d %v %s", port, status, err, body)
		}
		harness.WaitFor(t, relTimeout, func() bool {
			conn, err := netDial("127.0.0.1" + ports[port])
			if err == nil {
				conn.Close()
			}
			return err != nil
		}, "the demo server on "+port+" stops listening")
	}
	del(":9201")
	get("west", "east deleted")
	if err := c.WaitLog(`"to_site":"west"`, relTimeout); err != nil {
		t.Fatalf("no failover log line: %v", err)
	}
	del(":9202")
	get("dr", "east and west deleted")
	// each DELETE reloads the config, demo servers included, so the health
	// checks may see dr down for a moment: wait for the line that reaches dr
	if err := c.WaitLog(`"to_site":"dr"`, relTimeout); err != nil {
		t.Fatalf("no log line of the move to dr: %v", err)
	}
	status, body, err := c.Load([]byte(strings.ReplaceAll(cfg, "{ADMIN}", c.AdminAddr())), "text/caddyfile")
	if err != nil || status != 200 {
		t.Fatalf("reloading the original config: %d %v %s", status, err, body)
	}
	harness.WaitFor(t, relTimeout, func() bool {
		status, got, err := harness.GetHTTP(url, relTimeout)
		return err == nil && status == 200 && got == "east"
	}, "east serves again after fail_duration")
	get("east", "after the reload")
	// The return to east is logged, last. On the way the reload, which
	// restarts the demo servers too, may show west back before east (still
	// within fail_duration) or dr's health check failed for a moment, so
	// the lines before it vary (TestHTTPFailover checks each line, with
	// backends outside Caddy).
	harness.WaitFor(t, relTimeout, func() bool {
		l := shiftLogs(c.Logs(), "shop")
		return len(l) > 0 && l[len(l)-1].To == "east"
	}, "the return to east logged")
	if total := metricValues(t, c, "caddy_costlb_connections_total"); total[fmt.Sprintf(`caddy_costlb_connections_total{service="shop",site="east",upstream="127.0.0.1%s"}`, ports[":9201"])] < 3 {
		t.Errorf("metrics do not count the requests sent to east since the reload: %v", total)
	}
}

// checkExampleView checks the example's service in /costlb/: an HTTP
// service with one upstream in each site, at the site's path cost.
func checkExampleView(t *testing.T, c *harness.Caddy, ports map[string]string) {
	t.Helper()
	s := mustService(t, mustView(t, c), "shop")
	if s.Kind != "http" || len(s.Backends) != 3 {
		t.Fatalf("/costlb/ shows shop as %+v", *s)
	}
	for i, w := range []struct {
		port, site string
		path       int64
	}{{":9201", "east", 0}, {":9202", "west", 5}, {":9203", "dr", 9999}} {
		if b := s.Backends[i]; b.Address != "127.0.0.1"+ports[w.port] || b.Site != w.site || b.PathCost != w.path {
			t.Errorf("upstream %d: %+v; want 127.0.0.1%s in %s at path cost %d", i, b, ports[w.port], w.site, w.path)
		}
	}
}

// serverOn returns the name of the http server listening on port.
func serverOn(t *testing.T, c *harness.Caddy, port string) string {
	t.Helper()
	status, body, err := c.Get("/config/apps/http/servers")
	var servers map[string]struct {
		Listen []string `json:"listen"`
	}
	if err != nil || status != 200 || json.Unmarshal(body, &servers) != nil {
		t.Fatalf("reading http servers: %d %v %s", status, err, body)
	}
	for name, s := range servers {
		if len(s.Listen) == 1 && strings.HasSuffix(s.Listen[0], port) {
			return name
		}
	}
	t.Fatalf("no http server listens on %s: %s", port, body)
	return ""
}
