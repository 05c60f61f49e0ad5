package integration

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// TestHTTPExample follows examples/http/README.md: its commands, one curl
// each, in its order, with the example's own fail_duration (10 s), and the
// log lines it shows. A DELETE is a reload, and Caddy forgets the passive
// failures of the config a reload stops: after the second DELETE the
// request tries east again, and after the last reload east serves at once,
// well within fail_duration.
func TestHTTPExample(t *testing.T) {
	ports := map[string]string{}
	cfg := example(t, "http/Caddyfile", ports)
	c := harness.StartCaddy(t, cfg, "caddyfile")
	url := "http://127.0.0.1" + ports[":8280"] + "/"
	curl := func(want, when string) {
		t.Helper()
		if status, got, err := harness.GetHTTP(url, relTimeout); err != nil || status != 200 || got != want {
			t.Fatalf("%s: %d %q %v; want %s with no error", when, status, got, err, want)
		}
	}
	curl("east", "at the start")
	checkExampleView(t, c, ports)

	// the README deletes srv1 and srv2, the demo servers of east and west
	// at the example's own ports; with the ports moved, find them by port
	del := func(port string) {
		t.Helper()
		name := serverOn(t, c, ports[port])
		if status, body, err := c.Delete("/config/apps/http/servers/" + name); err != nil || status != 200 {
			t.Fatalf("deleting the demo server on %s: %d %v %s", port, status, err, body)
		}
		// the reload has closed the deleted server's listener
		harness.WaitFor(t, relTimeout, func() bool {
			conn, err := netDial("127.0.0.1" + ports[port])
			if err == nil {
				conn.Close()
			}
			return err != nil
		}, "the demo server on "+port+" stops listening")
	}
	del(":9201")
	curl("west", "east deleted")
	checkShifts(t, c, "shop", "costlb failover east->west")
	del(":9202")
	curl("dr", "east and west deleted")
	failed := time.Now() // east's and west's last failures: down until 10 s on
	checkShifts(t, c, "shop", "costlb failover east->west", "costlb failback west->east", "costlb failover east->west", "costlb failover west->dr")

	status, body, err := c.Load([]byte(strings.ReplaceAll(cfg, "{ADMIN}", c.AdminAddr())), "text/caddyfile")
	if err != nil || status != 200 {
		t.Fatalf("reloading the original config: %d %v %s", status, err, body)
	}
	curl("east", "right after the reload")
	if since := time.Since(failed); since >= 10*time.Second {
		t.Logf("the reload came %v after the failures, past fail_duration: this run does not show that it forgot them", since)
	}
	checkShifts(t, c, "shop", "costlb failover east->west", "costlb failback west->east", "costlb failover east->west", "costlb failover west->dr",
		"costlb failback dr->east")
	if total := metricValues(t, c, "caddy_costlb_connections_total"); total[fmt.Sprintf(`caddy_costlb_connections_total{service="shop",site="east",upstream="127.0.0.1%s"}`, ports[":9201"])] != 1 {
		t.Errorf("metrics do not count the one request sent to east since the reload: %v", total)
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
