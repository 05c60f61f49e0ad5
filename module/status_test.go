package module_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/costlb/costlb/integration/harness"
	_ "github.com/costlb/costlb/module/l4handler"
)

// TestStatusSecurityHeaders asks every kind of path of a running
// costlb_status handler: each answer carries nosniff and no-store, and
// the page a Content-Security-Policy that allows nothing but its own
// inline style and script (by hash) and fetches from its own origin.
func TestStatusSecurityHeaders(t *testing.T) {
	status, listen, backend := harness.FreeAddr(t), harness.FreeAddr(t), harness.FreeAddr(t)
	cfg := fmt.Sprintf(`{
	"admin": {"disabled": true},
	"apps": {
		"costlb": {"site": "east"},
		"layer4": {"servers": {"s": {"listen": [%q], "routes": [{"handle": [{
			"handler": "costlb", "name": "svc", "backends": [{"site": "east", "dial": [%q]}]}]}]}}},
		"http": {"servers": {"st": {"listen": [%q], "routes": [{"handle": [{"handler": "costlb_status"}]}]}}}
	}
}`, listen, backend, status)
	if err := caddy.Load([]byte(cfg), true); err != nil {
		t.Fatalf("load: %v", err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	cases := []struct {
		method, path string
		code         int
		page         bool
	}{
		{http.MethodGet, "/", 200, true},
		{http.MethodHead, "/", 200, true},
		{http.MethodGet, "/status.json", 200, false},
		{http.MethodGet, "/ready/svc", 200, false},
		{http.MethodGet, "/ready/nosuch", 404, false},
		{http.MethodGet, "/unknown", 404, false},
		{http.MethodPost, "/status.json", 405, false},
		{http.MethodDelete, "/", 405, false},
	}
	for _, c := range cases {
		req, _ := http.NewRequest(c.method, "http://"+status+c.path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", c.method, c.path, err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		h := resp.Header
		if resp.StatusCode != c.code {
			t.Errorf("%s %s: %d, want %d", c.method, c.path, resp.StatusCode, c.code)
		}
		if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
			t.Errorf("%s %s: X-Content-Type-Options %q, want nosniff", c.method, c.path, got)
		}
		if got := h.Get("Cache-Control"); got != "no-store" {
			t.Errorf("%s %s: Cache-Control %q, want no-store", c.method, c.path, got)
		}
		csp := h.Get("Content-Security-Policy")
		if !c.page {
			continue
		}
		for _, want := range []string{"default-src 'none'", "script-src 'sha256-", "style-src 'sha256-", "connect-src 'self'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s %s: Content-Security-Policy %q lacks %q", c.method, c.path, csp, want)
			}
		}
		for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*", "http:", "https:"} {
			if strings.Contains(csp, bad) {
				t.Errorf("%s %s: Content-Security-Policy %q allows %q", c.method, c.path, csp, bad)
			}
		}
	}
}
