package integration

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// TestMain removes the Caddy binary the harness may have built for this test
// process. It is the package's only TestMain: extend it rather than adding one.
func TestMain(m *testing.M) {
	code := m.Run()
	harness.RemoveBuiltCaddy()
	os.Exit(code)
}

const dialTimeout = 5 * time.Second

// plainProxyCaddyfile is a layer4 server on listen proxying to backend with
// caddy-l4's own proxy handler.
func plainProxyCaddyfile(listen, backend string) string {
	return fmt.Sprintf(`{
	admin {ADMIN}
	layer4 {
		%s {
			route {
				proxy %s
			}
		}
	}
}
`, listen, backend)
}

// TestHarnessSmokeCaddyfile proves the harness end to end with the plain
// caddy-l4 proxy: start from a Caddyfile, proxy, echo, reload to another
// backend while a connection stays open.
func TestHarnessSmokeCaddyfile(t *testing.T) {
	alpha := harness.StartBackend(t, "alpha")
	beta := harness.StartBackend(t, "beta")
	listen := harness.FreeAddr(t)

	c := harness.StartCaddy(t, plainProxyCaddyfile(listen, alpha.Addr()), "caddyfile")

	name, err := harness.Once(listen, dialTimeout)
	if err != nil {
		t.Fatalf("Once through caddy: %v", err)
	}
	if name != "alpha" {
		t.Fatalf("greeting through caddy = %q, want alpha", name)
	}

	name, held, err := harness.Hold(listen, dialTimeout)
	if err != nil {
		t.Fatalf("Hold through caddy: %v", err)
	}
	defer held.Close()
	if name != "alpha" {
		t.Fatalf("held greeting = %q, want alpha", name)
	}
	payload := make([]byte, 1024)
	if _, err := rand.Read(payload); err != nil {
		t.Fatal(err)
	}
	if err := harness.EchoCheck(held, payload); err != nil {
		t.Fatalf("echo through caddy: %v", err)
	}
	harness.WaitFor(t, 5*time.Second, func() bool { return alpha.Open() == 1 },
		"alpha should have exactly the held connection open")

	status, body, err := c.Load([]byte(plainProxyCaddyfile(listen, beta.Addr())), "text/caddyfile")
	if err != nil || status != http.StatusOK {
		t.Fatalf("POST /load: status %d, err %v, body %s", status, err, body)
	}
	status, body, err = c.Get("/config/apps/layer4")
	if err != nil || status != http.StatusOK || !bytes.Contains(body, []byte(beta.Addr())) {
		t.Fatalf("GET /config/apps/layer4 after reload: status %d, err %v, body %s", status, err, body)
	}

	name, err = harness.Once(listen, dialTimeout)
	if err != nil {
		t.Fatalf("Once after reload: %v", err)
	}
	if name != "beta" {
		t.Fatalf("greeting after reload = %q, want beta", name)
	}
	if err := harness.EchoCheck(held, payload); err != nil {
		t.Fatalf("held connection after reload: %v", err)
	}
	if got := alpha.Accepted(); got != 2 {
		t.Errorf("alpha accepted %d connections, want 2", got)
	}
	if got := beta.Accepted(); got != 1 {
		t.Errorf("beta accepted %d connections, want 1", got)
	}

	held.Close()
	harness.WaitFor(t, 5*time.Second, func() bool { return alpha.Open() == 0 && beta.Open() == 0 },
		"backends should see every proxied connection closed")

	c.Stop()
	if !c.Exited() {
		t.Fatal("caddy still running after Stop")
	}
}

// TestHarnessSmokeJSON starts Caddy from a JSON config, proxies through it,
// and checks that Kill ends the process.
func TestHarnessSmokeJSON(t *testing.T) {
	gamma := harness.StartBackend(t, "gamma")
	listen := harness.FreeAddr(t)
	config := fmt.Sprintf(`{
	"admin": {"listen": "{ADMIN}"},
	"apps": {
		"layer4": {
			"servers": {
				"smoke": {
					"listen": [%q],
					"routes": [{"handle": [{"handler": "proxy", "upstreams": [{"dial": [%q]}]}]}]
				}
			}
		}
	}
}`, listen, gamma.Addr())

	c := harness.StartCaddy(t, config, "json")
	if !strings.HasPrefix(c.AdminURL(), "http://127.0.0.1:") {
		t.Errorf("AdminURL = %q", c.AdminURL())
	}
	name, err := harness.Once(listen, dialTimeout)
	if err != nil {
		t.Fatalf("Once through caddy: %v", err)
	}
	if name != "gamma" {
		t.Fatalf("greeting through caddy = %q, want gamma", name)
	}
	status, body, err := c.Get("/config/apps/layer4/servers/smoke/listen")
	if err != nil || status != http.StatusOK || !bytes.Contains(body, []byte(listen)) {
		t.Fatalf("GET listen: status %d, err %v, body %s", status, err, body)
	}

	c.Kill()
	if !c.Exited() {
		t.Fatal("caddy still running after Kill")
	}
	if _, err := harness.Once(listen, time.Second); err == nil {
		t.Fatal("listener still answers after Kill")
	}
}
