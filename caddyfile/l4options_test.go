package caddyfile

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// TestKnows: asking caddy-l4's parsers finds every option caddy-l4 v0.1.2
// documents for its upstream and proxy blocks, and no other. The lists
// here are caddy-l4's syntax docs, copied on purpose: they check the
// question costlb asks, which itself holds no list.
func TestKnows(t *testing.T) {
	upstream := []string{"dial", "local_addr", "resolver_preference", "max_connections", "weight",
		"tls", "tls_client_auth", "tls_curves", "tls_except_ports", "tls_insecure_skip_verify",
		"tls_renegotiation", "tls_server_name", "tls_timeout", "tls_trust_pool"}
	proxy := []string{"health_interval", "health_port", "health_timeout", "health_fall", "health_rise", "close_if_unhealthy",
		"fail_duration", "max_fails", "unhealthy_connection_count",
		"lb_policy", "lb_try_duration", "lb_try_interval", "proxy_protocol", "upstream"}
	unknown := []string{"bogus", "zone", "1", "{", "ready", "backend", "name", "link_cost", "health_uri", "Health_interval"}
	for _, c := range []struct {
		what  string
		knows func(string) bool
		known []string
	}{{"upstream", upstreamKnows, upstream}, {"proxy", proxyKnows, proxy}} {
		for _, opt := range c.known {
			if !c.knows(opt) {
				t.Errorf("caddy-l4's %s parser should know %q", c.what, opt)
			}
		}
		for _, opt := range unknown {
			if c.knows(opt) {
				t.Errorf("caddy-l4's %s parser should not know %q", c.what, opt)
			}
		}
	}
	for _, opt := range []string{"max_connections", "tls", "dial"} {
		if proxyKnows(opt) {
			t.Errorf("the proxy parser knows the upstream option %q", opt)
		}
	}
}

// TestBackendWeight: "weight <n>" is taken out of the backend block as a
// JSON literal; caddy-l4's upstream keeps no weight of its own.
func TestBackendWeight(t *testing.T) {
	d := caddyfile.NewTestDispenser("backend east 10.0.0.1:1 10.0.0.2:1 {\n\tmax_connections 4\n\tweight 3.0\n}")
	d.Next()
	_, _, u, w, err := Backend(d, "costlb")
	if err != nil || string(w) != "3" || u.Weight != 0 || u.MaxConnections != 4 || len(u.Dial) != 2 {
		t.Fatalf("weight %s, upstream weight %d, max %d, dial %v, err %v; want 3, 0, 4, two addresses", w, u.Weight, u.MaxConnections, u.Dial, err)
	}
}

// TestExplainNamesTheOption: an unknown option gets costlb's words and the
// line; an error of a known option keeps caddy-l4's words, after the block.
func TestExplainNamesTheOption(t *testing.T) {
	for _, tc := range []struct{ input, want string }{
		{"backend east 10.0.0.1:1 {\n\tmax_connections 2\n\tzone a\n}", `costlb: backend east: unknown option "zone"; allowed: ready <url>`},
		{"backend east 10.0.0.1:1 {\n\tzone\n}", `unknown option "zone"`},
		{"backend east 10.0.0.1:1 {\n\tmax_connections\n}", "costlb: backend east: wrong argument count or unexpected line ending after 'max_connections'"},
		{"backend east 10.0.0.1:1 {\n\tmax_connections 1\n\tmax_connections 2\n}", "costlb: backend east: duplicate proxy backend option 'max_connections'"},
		{"backend east 10.0.0.1:1 {\n\ttls_trust_pool {\n\t}\n}", "costlb: backend east:"},
		{"backend east 10.0.0.1:1 {\n\tweight 0\n}", `costlb: backend east: weight "0" is too small: a weight is a whole number from 1 to 1000 (default 1) (JSON: "weight")`},
		{"backend east 10.0.0.1:1 {\n\tweight 1001\n}", `weight "1001" is too large: a weight is a whole number from 1 to 1000`},
		{"backend east 10.0.0.1:1 {\n\tweight x\n}", `weight "x" is not a number: a weight is a whole number from 1 to 1000`},
		{"backend east 10.0.0.1:1 {\n\tweight 2.5\n}", `weight "2.5" is not a whole number`},
		{"backend east 10.0.0.1:1 {\n\tweight\n}", `weight takes one value`},
		{"backend east 10.0.0.1:1 {\n\tweight 2\n\tweight 3\n}", `weight given twice`},
	} {
		d := caddyfile.NewTestDispenser(tc.input)
		d.Next()
		_, _, _, _, err := Backend(d, "costlb")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("input %q: error %v, want it to contain %q", tc.input, err, tc.want)
		}
		if err != nil && !strings.Contains(err.Error(), "Testfile:") {
			t.Errorf("input %q: error %v has no location", tc.input, err)
		}
	}
}
