package integration

import (
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
	// examples/mtls reads its certificates from ./certs
	dir := t.TempDir()
	exampleCerts(t, dir)
	for _, f := range files {
		cmd := exec.Command(bin, "validate", "--adapter", "caddyfile", "--config", f)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "Valid configuration") {
			t.Errorf("caddy validate %s: %v\n%s", f, err, out)
		}
	}
}

// TestExamplePortsDistinct: every example has its own ports, the admin
// endpoint included (Caddy binds with SO_REUSEPORT: a second example on
// the same port would start without error and share its traffic), and
// each example's README quotes only ports of its own config.
func TestExamplePortsDistinct(t *testing.T) {
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dirs, _ := filepath.Glob(filepath.Join(root, "examples", "*"))
	owner := map[string]string{}
	for _, dir := range dirs {
		name := filepath.Base(dir)
		configs, _ := filepath.Glob(filepath.Join(dir, "*Caddyfile"))
		jsons, _ := filepath.Glob(filepath.Join(dir, "*.json"))
		own := map[string]bool{}
		for _, f := range append(configs, jsons...) {
			b, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			if !regexp.MustCompile(`(?m)^\s*admin localhost:\d+$|"admin": \{"listen": "localhost:\d+"\}`).Match(b) {
				t.Errorf("%s sets no admin address of its own", f)
			}
			for _, m := range examplePortRe.FindAllSubmatch(b, -1) {
				own[string(m[1])] = true
			}
		}
		for port := range own {
			if other, ok := owner[port]; ok {
				t.Errorf("port %s is used by examples %s and %s", port, other, name)
			}
			owner[port] = name
		}
		readme, err := os.ReadFile(filepath.Join(dir, "README.md"))
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range examplePortRe.FindAllSubmatch(readme, -1) {
			if !own[string(m[1])] {
				t.Errorf("examples/%s/README.md quotes %s, not a port of its config", name, m[0])
			}
		}
	}
	if len(owner) == 0 {
		t.Fatal("no example ports found")
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

// TestFailoverExample follows examples/failover/README.md, one curl per
// step, with the example's own fail_duration: east is back 10 s after its
// failed dial, not before, though its server is back at once.
func TestFailoverExample(t *testing.T) {
	ports := map[string]string{}
	cfg := example(t, "failover/Caddyfile", ports)
	c := harness.StartCaddy(t, cfg, "caddyfile")
	listen := "127.0.0.1" + ports[":8180"]
	if got, err := httpVia(listen); err != nil || got != "east" {
		t.Fatalf("before failover: %q %v", got, err)
	}
	// the README deletes srv0, east's server at the example's own ports;
	// with the ports moved, find east's server by its address
	if status, body, err := c.Delete("/config/apps/http/servers/" + serverOn(t, c, ports[":9101"])); err != nil || status != 200 {
		t.Fatalf("deleting east's demo server: %d %v %s", status, err, body)
	}
	harness.WaitFor(t, 5*time.Second, func() bool {
		conn, err := netDial("127.0.0.1" + ports[":9101"])
		if err == nil {
			conn.Close()
		}
		return err != nil
	}, "east's demo server stops listening")
	failing := time.Now()
	if got, err := httpVia(listen); err != nil || got != "dr" {
		t.Fatalf("after deleting east: %q %v, want dr with no error", got, err)
	}
	checkShifts(t, c, "orders", "costlb failover east->dr")
	status, body, err := c.Load([]byte(strings.ReplaceAll(cfg, "{ADMIN}", c.AdminAddr())), "text/caddyfile")
	if err != nil || status != 200 {
		t.Fatalf("reloading the original config: %d %v %s", status, err, body)
	}
	got, err := httpVia(listen)
	if since := time.Since(failing); err != nil || (got != "dr" && since < 10*time.Second) {
		t.Fatalf("right after the reload, %v after east's failed dial: %q %v, want dr", since, got, err)
	}
	harness.WaitFor(t, 20*time.Second, func() bool {
		got, err := httpVia(listen)
		return err == nil && got == "east"
	}, "east serves again after fail_duration")
	if since := time.Since(failing); since < 10*time.Second {
		t.Errorf("east served again %v after its failed dial, before fail_duration (10 s)", since)
	}
	checkShifts(t, c, "orders", "costlb failover east->dr", "costlb failback dr->east")
}

func netDial(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, dialTimeout) }

// openRaw opens n connections to addr, sending nothing (the demo backends
// are HTTP servers, which do not greet), and returns them; those the test
// does not close stay open until it ends.
func openRaw(t *testing.T, addr string, n int) []net.Conn {
	t.Helper()
	conns := make([]net.Conn, n)
	for i := range conns {
		conn, err := netDial(addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		conns[i] = conn
	}
	return conns
}
