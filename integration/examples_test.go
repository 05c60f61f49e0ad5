package integration

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// example reads examples/<path> with its admin address replaced by the
// harness placeholder and every fixed port replaced by a free one (the same
// port gets the same replacement across calls sharing ports).
func example(t *testing.T, path string, ports map[string]string) string {
	t.Helper()
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "examples", path))
	if err != nil {
		t.Fatal(err)
	}
	cfg := regexp.MustCompile(`admin localhost:\d+`).ReplaceAllString(string(b), "admin {ADMIN}")
	cfg = strings.Replace(cfg, `"listen": "localhost:2019"`, `"listen": "{ADMIN}"`, 1)
	return regexp.MustCompile(`:(\d{4})\b`).ReplaceAllStringFunc(cfg, func(m string) string {
		if _, ok := ports[m]; !ok {
			addr := harness.FreeAddr(t)
			ports[m] = addr[strings.LastIndex(addr, ":"):]
		}
		return ports[m]
	})
}

// httpVia fetches / through a layer4 listener and returns the body: the
// name of the site whose demo server answered.
func httpVia(addr string) (string, error) {
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := client.Get("http://" + addr + "/")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return strings.TrimSpace(string(b)), err
}

func TestExamplesAdaptAndValidate(t *testing.T) {
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(root, "examples", "*", "*Caddyfile"))
	if len(files) < 4 {
		t.Fatalf("found %d example Caddyfiles, want at least 4: %v", len(files), files)
	}
	bin := harness.CaddyBinary(t)
	for _, f := range files {
		out, err := exec.Command(bin, "validate", "--adapter", "caddyfile", "--config", f).CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Valid configuration") {
			t.Errorf("caddy validate %s: %v\n%s", f, err, out)
		}
	}
}

// TestQuickstart runs examples/quickstart as a user would (ports moved) and
// checks the demo behaves as its README says.
func TestQuickstart(t *testing.T) {
	ports := map[string]string{}
	c := harness.StartCaddy(t, example(t, "quickstart/Caddyfile", ports), "caddyfile")
	waitHealthy(t, c, "demo")
	listen := "127.0.0.1" + ports[":8080"]
	if got, err := httpVia(listen); err != nil || got != "east" {
		t.Fatalf("curl through the quickstart: %q %v, want east", got, err)
	}
	waitIdle(t, c, "demo")
	// eight held connections: east takes 7, west 1 (the README's numbers)
	openRaw(t, listen, 8)
	harness.WaitFor(t, 5*time.Second, func() bool {
		live := liveByAddress(t, c, "demo")
		return live["127.0.0.1"+ports[":9001"]] == 7 && live["127.0.0.1"+ports[":9002"]] == 1
	}, "8 held connections spread east 7, west 1")
	if got, err := httpVia(listen); err != nil || got != "west" {
		t.Fatalf("with east at 7 and west at 1 the next request reached %q %v, want west", got, err)
	}
}

// TestQuickstartJSON runs the JSON form of the quickstart on its own.
func TestQuickstartJSON(t *testing.T) {
	ports := map[string]string{}
	c := harness.StartCaddy(t, example(t, "quickstart/caddy.json", ports), "json")
	waitHealthy(t, c, "demo")
	listen := "127.0.0.1" + ports[":8080"]
	if got, err := httpVia(listen); err != nil || got != "east" {
		t.Fatalf("through the JSON quickstart: %q %v, want east", got, err)
	}
	waitIdle(t, c, "demo")
	openRaw(t, listen, 6)
	harness.WaitFor(t, 5*time.Second, func() bool {
		return liveByAddress(t, c, "demo")["127.0.0.1"+ports[":9001"]] == 6
	}, "6 held on east")
	if got, err := httpVia(listen); err != nil || got != "west" {
		t.Fatalf("east at 6 (perceived 6 >= west's 5): %q %v, want west", got, err)
	}
}

// TestFailoverExample follows examples/failover/README.md.
func TestFailoverExample(t *testing.T) {
	ports := map[string]string{}
	// fail_duration shortened from 10s so the failback is quick to see
	cfg := strings.Replace(example(t, "failover/Caddyfile", ports), "fail_duration 10s", "fail_duration 1s", 1)
	c := harness.StartCaddy(t, cfg, "caddyfile")
	waitHealthy(t, c, "orders")
	listen := "127.0.0.1" + ports[":8080"]
	for i := 0; i < 3; i++ {
		if got, err := httpVia(listen); err != nil || got != "east" {
			t.Fatalf("before failover: %q %v", got, err)
		}
	}
	// the README deletes srv0, east's server at the example's own ports;
	// with the ports moved, find east's server by its address
	status, body, err := c.Get("/config/apps/http/servers")
	var servers map[string]struct {
		Listen []string `json:"listen"`
	}
	if err != nil || status != 200 || json.Unmarshal(body, &servers) != nil {
		t.Fatalf("reading http servers: %d %v %s", status, err, body)
	}
	eastServer := ""
	for name, s := range servers {
		if len(s.Listen) == 1 && strings.HasSuffix(s.Listen[0], ports[":9101"]) {
			eastServer = name
		}
	}
	if eastServer == "" {
		t.Fatalf("no http server listens on east's port %s: %s", ports[":9101"], body)
	}
	if status, body, err := c.Delete("/config/apps/http/servers/" + eastServer); err != nil || status != 200 {
		t.Fatalf("deleting east's demo server: %d %v %s", status, err, body)
	}
	harness.WaitFor(t, 5*time.Second, func() bool {
		conn, err := netDial("127.0.0.1" + ports[":9101"])
		if err == nil {
			conn.Close()
		}
		return err != nil
	}, "east's demo server stops listening")
	for i := 0; i < 3; i++ {
		if got, err := httpVia(listen); err != nil || got != "dr" {
			t.Fatalf("after deleting east: %q %v, want dr with no error", got, err)
		}
	}
	if err := c.WaitLog("costlb failover", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	status, body, err = c.Load([]byte(strings.ReplaceAll(cfg, "{ADMIN}", c.AdminAddr())), "text/caddyfile")
	if err != nil || status != 200 {
		t.Fatalf("reloading the original config: %d %v %s", status, err, body)
	}
	harness.WaitFor(t, 15*time.Second, func() bool {
		got, err := httpVia(listen)
		return err == nil && got == "east"
	}, "east serves again after fail_duration")
}

// TestMultiHopExample follows examples/multi-hop/README.md: two sites that
// back each other up, each with a local service and an ingress, readiness
// wired both ways. It checks the README's placement of eight held
// connections, then takes site b's servers away (b's clients are served by
// a, a stops sending to b) and brings them back.
func TestMultiHopExample(t *testing.T) {
	ports := map[string]string{}
	bCfg := example(t, "multi-hop/b.Caddyfile", ports)
	cb := harness.StartCaddy(t, bCfg, "caddyfile")
	ca := harness.StartCaddy(t, example(t, "multi-hop/a.Caddyfile", ports), "caddyfile")
	addr := func(p string) string { return "127.0.0.1" + ports[p] }
	waitHealthy(t, cb, "web-ingress")
	waitHealthy(t, ca, "web-ingress")
	waitGateway(t, ca, "web", addr(":8091"), true)
	waitGateway(t, cb, "web", addr(":8081"), true)
	if got, err := httpVia(addr(":8080")); err != nil || got != "a" {
		t.Fatalf("site a's first request: %q %v, want a", got, err)
	}
	if got, err := httpVia(addr(":8090")); err != nil || (got != "b1" && got != "b2") {
		t.Fatalf("site b's first request: %q %v, want b1 or b2", got, err)
	}
	for _, svc := range []string{"web", "web-ingress"} {
		waitIdle(t, ca, svc)
		waitIdle(t, cb, svc)
	}

	// eight held at a: 6 on a's server (0 + live), 2 to b's ingress
	// (3 + live), which spreads them over b1 and b2 and never back to a
	openRaw(t, addr(":8080"), 8)
	var la, lb map[string]int64
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		la, lb = liveByAddress(t, ca, "web"), liveByAddress(t, cb, "web-ingress")
		if la[addr(":9201")] == 6 && la[addr(":8091")] == 2 && lb[addr(":9202")] == 1 && lb[addr(":9203")] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("README placement (a: 6 local + 2 to b; b's ingress: 1 + 1) not reached: site a web %v, site b web-ingress %v (ports %v)", la, lb, ports)
		}
	}
	if lw := liveByAddress(t, cb, "web"); lw[addr(":8081")] != 0 {
		t.Errorf("site b's web sent %d connections back to a: %v", lw[addr(":8081")], lw)
	}

	// take site b's servers away, as the README does
	for _, srv := range []string{"demo-b1", "demo-b2"} {
		if status, body, err := cb.Delete("/config/apps/http/servers/" + srv); err != nil || status != 200 {
			t.Fatalf("deleting %s: %d %v %s", srv, status, err, body)
		}
	}
	waitGateway(t, ca, "web", addr(":8091"), false)
	harness.WaitFor(t, 10*time.Second, func() bool {
		got, err := httpVia(addr(":8090"))
		return err == nil && got == "a"
	}, "site b's clients are served by site a")
	for i := 0; i < 5; i++ {
		if got, err := httpVia(addr(":8090")); err != nil || got != "a" {
			t.Fatalf("site b's request %d after the failover: %q %v, want a", i, got, err)
		}
		if got, err := httpVia(addr(":8080")); err != nil || got != "a" {
			t.Fatalf("site a's request %d after the failover: %q %v, want a", i, got, err)
		}
	}
	for c, want := range map[*harness.Caddy]string{ca: "costlb gateway not ready", cb: "costlb failover"} {
		if err := c.WaitLog(want, 5*time.Second); err != nil {
			t.Error(err)
		}
	}

	// and back, as the README's caddy reload does
	if status, body, err := cb.Load([]byte(bCfg), "text/caddyfile"); err != nil || status != 200 {
		t.Fatalf("reloading site b: %d %v %s", status, err, body)
	}
	waitGateway(t, ca, "web", addr(":8091"), true)
	harness.WaitFor(t, 10*time.Second, func() bool {
		got, err := httpVia(addr(":8090"))
		return err == nil && (got == "b1" || got == "b2")
	}, "site b's clients are served by b again")
}

func netDial(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, dialTimeout) }

// openRaw opens n connections to addr and keeps them open until the test
// ends, sending nothing: the demo backends are HTTP servers, which do not
// greet.
func openRaw(t *testing.T, addr string, n int) {
	t.Helper()
	for i := 0; i < n; i++ {
		conn, err := netDial(addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
	}
}
