package caddyfile_test

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/mholt/caddy-l4/modules/l4proxy"

	cfile "github.com/costlb/costlb/caddyfile"
	"github.com/costlb/costlb/linkgraph"
)

// costRule is how every cost error says what is allowed.
const costRule = "must be an integer from 1 to 2147483647"

// checkErr fails t unless err is non-nil and contains every substring of
// want.
func checkErr(t *testing.T, input string, err error, want []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want an error containing %q\ninput:\n%s", want, input)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q\n does not contain %q\ninput:\n%s", err, w, input)
		}
	}
}

func lk(a, b string, cost int64) linkgraph.Link {
	return linkgraph.Link{Between: [2]string{a, b}, Cost: cost}
}

func sameLinks(a, b []linkgraph.Link) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestParseGlobalValid(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  cfile.Global
	}{
		{"spec example", `costlb {
			site east             # the local site (required)
			link east west 5      # link <site> <site> [<cost>]
			link west north       # cost 1
		}`, cfile.Global{Site: "east", Links: []linkgraph.Link{lk("east", "west", 5), lk("west", "north", 0)}}},
		{"site only", "costlb {\n site east\n}", cfile.Global{Site: "east"}},
		{"quoted names", "costlb {\n site \"east\"\n link `east` \"west\" 2\n}",
			cfile.Global{Site: "east", Links: []linkgraph.Link{lk("east", "west", 2)}}},
		{"unicode names", "costlb {\n site 東京\n link 東京 大阪 3\n link 大阪 café\n}",
			cfile.Global{Site: "東京", Links: []linkgraph.Link{lk("東京", "大阪", 3), lk("大阪", "café", 0)}}},
		{"cost bounds", "costlb {\n site a\n link a b 1\n link b c 2147483647\n}",
			cfile.Global{Site: "a", Links: []linkgraph.Link{lk("a", "b", 1), lk("b", "c", linkgraph.MaxCost)}}},
		{"link before site", "costlb {\n link a b 9999\n site a\n}",
			cfile.Global{Site: "a", Links: []linkgraph.Link{lk("a", "b", 9999)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g, err := cfile.ParseGlobal(caddyfile.NewTestDispenser(tt.input))
			if err != nil {
				t.Fatalf("ParseGlobal: %v\ninput:\n%s", err, tt.input)
			}
			if g.Site != tt.want.Site || !sameLinks(g.Links, tt.want.Links) {
				t.Fatalf("ParseGlobal = %+v, want %+v", g, tt.want)
			}
		})
	}
}

func TestParseGlobalInvalid(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []string
	}{
		{"no block", "costlb", []string{"missing 'site <name>'", "required"}},
		{"empty block", "costlb {\n}", []string{"missing 'site <name>'"}},
		{"empty braces", "costlb {}", []string{`unexpected argument "{}"`}},
		{"argument", "costlb east {\n site east\n}", []string{`unexpected argument "east"`, "costlb { site <name> ... }"}},
		{"no site", "costlb {\n link east west 5\n}", []string{"missing 'site <name>'"}},
		{"empty site name", "costlb {\n site \"\"\n}", []string{"missing 'site <name>'"}},
		{"site without name", "costlb {\n site\n}", []string{"site takes exactly one name", "got 0"}},
		{"site with two names", "costlb {\n site east west\n}", []string{"site takes exactly one name", `"west"`}},
		{"site twice", "costlb {\n site east\n site west\n}", []string{"site given twice", `"east"`, `"west"`, "exactly one site"}},
		{"unknown option", "costlb {\n site east\n region eu\n}", []string{`unknown option "region"`, "site <name>, link <site> <site> [<cost>]"}},
		{"option named like the handler's", "costlb {\n site east\n backend east 10.0.0.1:1\n}", []string{`unknown option "backend"`, "allowed: site"}},
		{"link with one site", "costlb {\n site east\n link east\n}", []string{"link takes <site> <site> [<cost>]", "got 1", `"east"`}},
		{"link without sites", "costlb {\n site east\n link\n}", []string{"link takes <site> <site> [<cost>]", "got 0"}},
		{"link with extra argument", "costlb {\n site east\n link east west 3 4\n}", []string{"link takes <site> <site> [<cost>]", "got 4", `"4"`}},
		{"cost 0", "costlb {\n site east\n link east west 0\n}", []string{"link east west", `cost "0"`, costRule}},
		{"cost negative", "costlb {\n site east\n link east west -3\n}", []string{`cost "-3"`, costRule}},
		{"cost above max", "costlb {\n site east\n link east west 2147483648\n}", []string{`cost "2147483648"`, costRule}},
		{"cost huge", "costlb {\n site east\n link east west 99999999999\n}", []string{`cost "99999999999"`, costRule}},
		{"cost beyond int64", "costlb {\n site east\n link east west 99999999999999999999999\n}", []string{`cost "99999999999999999999999"`, costRule}},
		{"cost fraction", "costlb {\n site east\n link east west 1.5\n}", []string{`cost "1.5"`, costRule}},
		{"cost exponent", "costlb {\n site east\n link east west 1e3\n}", []string{`cost "1e3"`, costRule}},
		{"cost word", "costlb {\n site east\n link east west abc\n}", []string{`cost "abc"`, costRule}},
		{"cost hex", "costlb {\n site east\n link east west 0x10\n}", []string{`cost "0x10"`, costRule}},
		{"cost empty", "costlb {\n site east\n link east west \"\"\n}", []string{`cost ""`, costRule}},
		{"cost with plus sign", "costlb {\n site east\n link east west +5\n}", []string{`cost "+5"`, costRule}},
		// the network is validated while parsing, so caddy adapt refuses it
		{"self link", "costlb {\n site a\n link a a\n}", []string{`"a"`, "itself"}},
		{"pair linked twice", "costlb {\n site a\n link a b\n link b a 3\n}", []string{`"a"`, `"b"`, "same pair"}},
		{"site name with control character", "costlb {\n site \"a\tb\"\n}", []string{"site name"}},
		{"site option with block", "costlb {\n site east {\n  zone a\n }\n}", []string{`"site"`, "does not take a block"}},
		{"link option with block", "costlb {\n site east\n link east west 3 {\n  latency 5ms\n }\n}", []string{`"link"`, "does not take a block"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cfile.ParseGlobal(caddyfile.NewTestDispenser(tt.input))
			checkErr(t, tt.input, err, tt.want)
		})
	}
}

func TestParseCost(t *testing.T) {
	for _, s := range []string{"1", "5", "9999", "2147483647"} {
		if _, err := cfile.ParseCost(s); err != nil {
			t.Errorf("ParseCost(%q): %v", s, err)
		}
	}
	for _, s := range []string{"", "0", "-1", "2147483648", "1.5", "1e3", "abc", " 1", "1 ", "99999999999", "NaN", "∞"} {
		_, err := cfile.ParseCost(s)
		if err == nil {
			t.Errorf("ParseCost(%q) accepted", s)
			continue
		}
		if !strings.Contains(err.Error(), costRule) || !strings.Contains(err.Error(), `"`+s+`"`) {
			t.Errorf("ParseCost(%q) error %q should quote the value and say %q", s, err, costRule)
		}
	}
}

// parseHandler parses input and fails the test on error.
func parseHandler(t *testing.T, input string) *cfile.Handler {
	t.Helper()
	h, err := cfile.ParseHandler(caddyfile.NewTestDispenser(input))
	if err != nil {
		t.Fatalf("ParseHandler: %v\ninput:\n%s", err, input)
	}
	if h == nil {
		t.Fatal("ParseHandler returned nil and no error")
	}
	if len(h.Proxy.Upstreams) != 0 {
		t.Errorf("Proxy.Upstreams = %v, want none (backends carry the upstreams)", h.Proxy.Upstreams)
	}
	return h
}

func TestParseHandlerSpecExample(t *testing.T) {
	h := parseHandler(t, `costlb {
		name orders-db                   # optional; default: costlb-<n>
		backend east 10.0.0.1:5432 10.0.0.2:5432
		backend west 10.1.0.1:5432 {
			max_connections 100          # any caddy-l4 upstream option
			tls
		}
		link_cost east west 9999         # this service only
		# every caddy-l4 proxy option works here unchanged:
		health_interval 2s
		health_timeout 1s
		fail_duration 10s
		lb_try_duration 3s
		proxy_protocol v2
	}`)
	if h.Name != "orders-db" {
		t.Errorf("Name = %q", h.Name)
	}
	want := []struct {
		site, addr string
		maxConns   int
		tls        bool
	}{
		{"east", "10.0.0.1:5432", 0, false},
		{"east", "10.0.0.2:5432", 0, false},
		{"west", "10.1.0.1:5432", 100, true},
	}
	if len(h.Backends) != len(want) {
		t.Fatalf("%d backends, want %d: %+v", len(h.Backends), len(want), h.Backends)
	}
	for i, w := range want {
		b := h.Backends[i]
		if b.Site != w.site || len(b.Upstream.Dial) != 1 || b.Upstream.Dial[0] != w.addr ||
			b.Upstream.MaxConnections != w.maxConns || (b.Upstream.TLS != nil) != w.tls {
			t.Errorf("backend %d = %s %v max %d tls %v, want %+v", i, b.Site, b.Upstream.Dial, b.Upstream.MaxConnections, b.Upstream.TLS != nil, w)
		}
	}
	if !sameLinks(h.LinkCosts, []linkgraph.Link{lk("east", "west", 9999)}) {
		t.Errorf("LinkCosts = %v", h.LinkCosts)
	}
	hc := h.Proxy.HealthChecks
	if hc == nil || hc.Active == nil || hc.Passive == nil {
		t.Fatalf("HealthChecks = %+v", hc)
	}
	if time.Duration(hc.Active.Interval) != 2*time.Second || time.Duration(hc.Active.Timeout) != time.Second ||
		time.Duration(hc.Passive.FailDuration) != 10*time.Second {
		t.Errorf("health checks: active %+v passive %+v", hc.Active, hc.Passive)
	}
	lb := h.Proxy.LoadBalancing
	if lb == nil || time.Duration(lb.TryDuration) != 3*time.Second || lb.SelectionPolicyRaw != nil {
		t.Errorf("LoadBalancing = %+v", lb)
	}
	if h.Proxy.ProxyProtocol != "v2" {
		t.Errorf("ProxyProtocol = %q", h.Proxy.ProxyProtocol)
	}
}

func TestParseHandlerProxyOptions(t *testing.T) {
	sec := func(d caddy.Duration) time.Duration { return time.Duration(d) }
	tests := []struct {
		option string
		check  func(p *l4proxy.Handler) bool
	}{
		{"health_interval 2s", func(p *l4proxy.Handler) bool { return sec(p.HealthChecks.Active.Interval) == 2*time.Second }},
		{"health_port 9000", func(p *l4proxy.Handler) bool { return p.HealthChecks.Active.Port == 9000 }},
		{"health_timeout 1500ms", func(p *l4proxy.Handler) bool { return sec(p.HealthChecks.Active.Timeout) == 1500*time.Millisecond }},
		{"health_fall 3", func(p *l4proxy.Handler) bool { return p.HealthChecks.Active.Fall == 3 }},
		{"health_rise 2", func(p *l4proxy.Handler) bool { return p.HealthChecks.Active.Rise == 2 }},
		{"close_if_unhealthy", func(p *l4proxy.Handler) bool { return p.HealthChecks.Active.CloseIfUnhealthy }},
		{"fail_duration 10s", func(p *l4proxy.Handler) bool { return sec(p.HealthChecks.Passive.FailDuration) == 10*time.Second }},
		{"max_fails 4", func(p *l4proxy.Handler) bool { return p.HealthChecks.Passive.MaxFails == 4 }},
		{"unhealthy_connection_count 50", func(p *l4proxy.Handler) bool { return p.HealthChecks.Passive.UnhealthyConnectionCount == 50 }},
		{"lb_try_duration 3s", func(p *l4proxy.Handler) bool { return sec(p.LoadBalancing.TryDuration) == 3*time.Second }},
		{"lb_try_interval 250ms", func(p *l4proxy.Handler) bool { return sec(p.LoadBalancing.TryInterval) == 250*time.Millisecond }},
		{"proxy_protocol v1", func(p *l4proxy.Handler) bool { return p.ProxyProtocol == "v1" }},
		{"proxy_protocol v2", func(p *l4proxy.Handler) bool { return p.ProxyProtocol == "v2" }},
	}
	for _, tt := range tests {
		t.Run(tt.option, func(t *testing.T) {
			input := "costlb {\n backend east 10.0.0.1:1\n " + tt.option + "\n}"
			h := parseHandler(t, input)
			if !tt.check(&h.Proxy) {
				t.Errorf("option %q not applied: health %+v lb %+v proxy_protocol %q", tt.option, h.Proxy.HealthChecks, h.Proxy.LoadBalancing, h.Proxy.ProxyProtocol)
			}
			if len(h.Backends) != 1 {
				t.Errorf("%d backends, want 1", len(h.Backends))
			}
		})
	}

	// All of them at once, between and after backends.
	h := parseHandler(t, `costlb {
		health_interval 2s
		backend east 10.0.0.1:1
		health_port 9000
		health_timeout 1s
		health_fall 3
		health_rise 2
		close_if_unhealthy
		backend west 10.0.0.2:1
		fail_duration 10s
		max_fails 4
		unhealthy_connection_count 50
		lb_try_duration 3s
		lb_try_interval 250ms
		proxy_protocol v1
	}`)
	a, p := h.Proxy.HealthChecks.Active, h.Proxy.HealthChecks.Passive
	if sec(a.Interval) != 2*time.Second || a.Port != 9000 || sec(a.Timeout) != time.Second || a.Fall != 3 || a.Rise != 2 || !a.CloseIfUnhealthy ||
		sec(p.FailDuration) != 10*time.Second || p.MaxFails != 4 || p.UnhealthyConnectionCount != 50 ||
		sec(h.Proxy.LoadBalancing.TryDuration) != 3*time.Second || sec(h.Proxy.LoadBalancing.TryInterval) != 250*time.Millisecond ||
		h.Proxy.ProxyProtocol != "v1" || len(h.Backends) != 2 {
		t.Errorf("combined options: active %+v passive %+v lb %+v pp %q backends %d", a, p, h.Proxy.LoadBalancing, h.Proxy.ProxyProtocol, len(h.Backends))
	}
}

func TestParseHandlerBackends(t *testing.T) {
	t.Run("one backend per address", func(t *testing.T) {
		h := parseHandler(t, "costlb {\n backend east 10.0.0.1:1 10.0.0.2:1 tcp/10.0.0.3:1 [::1]:4\n backend west 10.1.0.1:1\n}")
		want := [][2]string{{"east", "10.0.0.1:1"}, {"east", "10.0.0.2:1"}, {"east", "tcp/10.0.0.3:1"}, {"east", "[::1]:4"}, {"west", "10.1.0.1:1"}}
		if len(h.Backends) != len(want) {
			t.Fatalf("%d backends, want %d", len(h.Backends), len(want))
		}
		for i, w := range want {
			b := h.Backends[i]
			if b.Site != w[0] || len(b.Upstream.Dial) != 1 || b.Upstream.Dial[0] != w[1] {
				t.Errorf("backend %d = %s %v, want %s [%s]", i, b.Site, b.Upstream.Dial, w[0], w[1])
			}
		}
	})

	t.Run("ready makes every address of the line a gateway", func(t *testing.T) {
		h := parseHandler(t, `costlb {
			backend east 10.0.0.1:1
			backend west 10.1.0.1:1 10.1.0.2:1 {
				max_connections 7
				ready http://10.1.0.9:9180/ready/web
			}
		}`)
		if len(h.Backends) != 3 {
			t.Fatalf("%d backends, want 3", len(h.Backends))
		}
		if h.Backends[0].Ready != "" {
			t.Errorf("plain backend got ready %q", h.Backends[0].Ready)
		}
		for _, b := range h.Backends[1:] {
			if b.Ready != "http://10.1.0.9:9180/ready/web" || b.Upstream.MaxConnections != 7 {
				t.Errorf("backend %v: ready %q, max_connections %d; want the URL and 7", b.Upstream.Dial, b.Ready, b.Upstream.MaxConnections)
			}
		}
	})

	t.Run("upstream options apply to every address", func(t *testing.T) {
		h := parseHandler(t, `costlb {
			backend west 10.1.0.1:1 10.1.0.2:1 {
				dial 10.1.0.3:1
				max_connections 100
				local_addr 10.9.9.9
				resolver_preference ipv4_only
				tls
				tls_server_name db.example.com
				tls_insecure_skip_verify
				tls_timeout 2s
				tls_renegotiation once
				tls_curves x25519
				tls_except_ports 5432
				tls_client_auth /c.pem /k.pem
			}
		}`)
		if len(h.Backends) != 3 {
			t.Fatalf("%d backends, want 3", len(h.Backends))
		}
		seen := map[string]bool{}
		for i, b := range h.Backends {
			u := b.Upstream
			if b.Site != "west" || len(u.Dial) != 1 {
				t.Fatalf("backend %d = %s %v", i, b.Site, u.Dial)
			}
			seen[u.Dial[0]] = true
			if u.MaxConnections != 100 || len(u.LocalAddrs) != 1 || u.ResolverPreference != "ipv4_only" {
				t.Errorf("backend %d: max %d local %v resolver %q", i, u.MaxConnections, u.LocalAddrs, u.ResolverPreference)
			}
			if u.TLS == nil || u.TLS.ServerName != "db.example.com" || !u.TLS.InsecureSkipVerify ||
				time.Duration(u.TLS.HandshakeTimeout) != 2*time.Second || u.TLS.Renegotiation != "once" ||
				len(u.TLS.Curves) != 1 || len(u.TLS.ExceptPorts) != 1 || u.TLS.ClientCertificateFile != "/c.pem" || u.TLS.ClientCertificateKeyFile != "/k.pem" {
				t.Errorf("backend %d: tls %+v", i, u.TLS)
			}
		}
		for _, a := range []string{"10.1.0.1:1", "10.1.0.2:1", "10.1.0.3:1"} {
			if !seen[a] {
				t.Errorf("no backend for %s", a)
			}
		}
		// The backends must not share mutable state: changing one's dial
		// list must not change another's.
		h.Backends[0].Upstream.Dial[0] = "changed:1"
		if h.Backends[1].Upstream.Dial[0] == "changed:1" || h.Backends[2].Upstream.Dial[0] == "changed:1" {
			t.Error("backends of one line share their Dial slice")
		}
	})

	t.Run("addresses only in the block", func(t *testing.T) {
		h := parseHandler(t, "costlb {\n backend east {\n  dial 10.0.0.1:1 10.0.0.2:1\n }\n}")
		if len(h.Backends) != 2 || h.Backends[0].Site != "east" || h.Backends[1].Upstream.Dial[0] != "10.0.0.2:1" {
			t.Errorf("backends = %+v", h.Backends)
		}
	})

	t.Run("unicode site", func(t *testing.T) {
		h := parseHandler(t, "costlb {\n backend 東京 10.0.0.1:1\n link_cost 東京 大阪 7\n}")
		if len(h.Backends) != 1 || h.Backends[0].Site != "東京" || !sameLinks(h.LinkCosts, []linkgraph.Link{lk("東京", "大阪", 7)}) {
			t.Errorf("handler = %+v", h)
		}
	})

	t.Run("defaults", func(t *testing.T) {
		h := parseHandler(t, "costlb {\n backend east 10.0.0.1:1\n}")
		if h.Name != "" || h.LinkCosts != nil || h.Proxy.HealthChecks != nil || h.Proxy.LoadBalancing != nil || h.Proxy.ProxyProtocol != "" {
			t.Errorf("defaults: %+v", h)
		}
	})

	// An empty block parses; the missing backends are refused when the
	// service is provisioned (see module tests).
	t.Run("empty block", func(t *testing.T) {
		h := parseHandler(t, "costlb {\n}")
		if len(h.Backends) != 0 {
			t.Errorf("backends = %+v", h.Backends)
		}
	})
}

func TestParseHandlerInvalid(t *testing.T) {
	const be = "\n backend east 10.0.0.1:1\n"
	tests := []struct {
		name  string
		input string
		want  []string
	}{
		{"empty braces", "costlb {}", []string{`unexpected argument "{}"`}},
		{"argument", "costlb foo {" + be + "}", []string{`unexpected argument "foo"`, "options go in a block"}},
		{"address as argument", "costlb 10.0.0.1:1", []string{`unexpected argument "10.0.0.1:1"`, "backend <site> <address...>"}},
		{"backend weight", "costlb {\n backend east 127.0.0.1:1 {\n  weight 3\n }\n}", []string{"weight has no meaning in costlb", "link_cost"}},
		{"unknown option", "costlb {" + be + " weight 3\n}", []string{`unknown option "weight"`, "allowed: name, backend, link_cost", "health_interval", "proxy_protocol"}},
		{"lb_policy", "costlb {" + be + " lb_policy round_robin\n}", []string{"lb_policy is not allowed", "costlb is the selection policy"}},
		{"lb_policy first", "costlb {\n lb_policy least_conn\n}", []string{"lb_policy is not allowed"}},
		{"upstream", "costlb {\n upstream 10.0.0.1:1\n}", []string{"'upstream'", "backend <site> <address...>"}},
		{"name without value", "costlb {\n name\n" + be + "}", []string{"name takes exactly one non-empty value"}},
		{"name empty", "costlb {\n name \"\"\n" + be + "}", []string{"name takes exactly one non-empty value"}},
		{"name with two values", "costlb {\n name a b\n" + be + "}", []string{"name takes exactly one non-empty value", `"b"`}},
		{"name twice", "costlb {\n name a\n name b\n" + be + "}", []string{"name given twice", `"a"`}},
		{"name with block", "costlb {\n name a {\n  b\n }\n" + be + "}", []string{`"name"`, "does not take a block"}},
		{"backend alone", "costlb {\n backend\n}", []string{"backend needs a site", "backend <site> <address...>"}},
		{"backend block only", "costlb {\n backend {\n  max_connections 1\n }\n}", []string{"backend needs a site"}},
		{"backend without address", "costlb {\n backend east\n}", []string{"backend east has no address", "backend <site> <address...>"}},
		{"backend block without address", "costlb {\n backend east {\n  max_connections 3\n }\n}", []string{"backend east has no address"}},
		{"backend empty site", "costlb {\n backend \"\" 10.0.0.1:1\n}", []string{"backend needs a site"}},
		{"backend unknown block option", "costlb {\n backend east 10.0.0.1:1 {\n  bogus 1\n }\n}", []string{"bogus", "max_connections"}},
		{"backend bad max_connections", "costlb {\n backend east 10.0.0.1:1 {\n  max_connections lots\n }\n}", []string{"max_connections", `"lots"`}},
		{"backend duplicate option", "costlb {\n backend east 10.0.0.1:1 {\n  max_connections 1\n  max_connections 2\n }\n}", []string{"duplicate", "max_connections"}},
		{"backend nested block", "costlb {\n backend east 10.0.0.1:1 {\n  tls {\n   x\n  }\n }\n}", []string{"'tls'", "blocks are not supported"}},
		{"backend bad resolver", "costlb {\n backend east 10.0.0.1:1 {\n  resolver_preference ipv5\n }\n}", []string{"ipv5"}},
		{"ready outside a backend", "costlb {" + be + " ready http://10.1.0.1:9180/ready/web\n}", []string{"ready goes inside a backend block", "backend <site> <address> { ready <url> }"}},
		{"ready twice", "costlb {\n backend west 10.1.0.1:1 {\n  ready http://a/ready/x\n  ready http://b/ready/x\n }\n}", []string{"backend west", "ready given twice", `"http://a/ready/x"`, `"http://b/ready/x"`}},
		{"ready without URL", "costlb {\n backend west 10.1.0.1:1 {\n  ready\n }\n}", []string{"ready takes exactly one URL"}},
		{"ready with two URLs", "costlb {\n backend west 10.1.0.1:1 {\n  ready http://a/ready/x http://b/ready/x\n }\n}", []string{"ready takes exactly one URL", "http://b/ready/x"}},
		{"link_cost without cost", "costlb {" + be + " link_cost east west\n}", []string{"link_cost takes <site> <site> <cost>", "got 2"}},
		{"link_cost with one site", "costlb {" + be + " link_cost east\n}", []string{"link_cost takes <site> <site> <cost>", "got 1"}},
		{"link_cost extra", "costlb {" + be + " link_cost east west 3 4\n}", []string{"link_cost takes <site> <site> <cost>", "got 4"}},
		{"link_cost 0", "costlb {" + be + " link_cost east west 0\n}", []string{"link_cost east west", `cost "0"`, costRule}},
		{"link_cost too big", "costlb {" + be + " link_cost east west 2147483648\n}", []string{`cost "2147483648"`, costRule}},
		{"link_cost fraction", "costlb {" + be + " link_cost east west 2.5\n}", []string{`cost "2.5"`, costRule}},
		{"link_cost with block", "costlb {" + be + " link_cost east west 3 {\n  x\n }\n}", []string{`"link_cost"`, "does not take a block"}},
		{"bad duration", "costlb {" + be + " health_interval soon\n}", []string{"health_interval", `"soon"`}},
		{"duration missing", "costlb {" + be + " lb_try_duration\n}", []string{"lb_try_duration"}},
		{"duplicate proxy option", "costlb {" + be + " fail_duration 1s\n fail_duration 2s\n}", []string{"duplicate", "fail_duration"}},
		{"bad integer", "costlb {" + be + " max_fails many\n}", []string{"max_fails", `"many"`}},
		{"proxy option with block", "costlb {" + be + " health_port 9000 {\n  x\n }\n}", []string{"health_port", "blocks are not supported"}},
		{"proxy_protocol without version", "costlb {" + be + " proxy_protocol\n}", []string{"proxy_protocol", "v1", "v2"}},
		{"proxy_protocol two versions", "costlb {" + be + " proxy_protocol v1 v2\n}", []string{"proxy_protocol", `"v2"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := cfile.ParseHandler(caddyfile.NewTestDispenser(tt.input))
			if err == nil && h == nil {
				t.Fatal("nil handler and nil error")
			}
			checkErr(t, tt.input, err, tt.want)
		})
	}
}

// TestParseErrorsHaveLocation checks that parse errors point at the line.
func TestParseErrorsHaveLocation(t *testing.T) {
	_, err := cfile.ParseGlobal(caddyfile.NewTestDispenser("costlb {\n site east\n link east west nope\n}"))
	if err == nil || !strings.Contains(err.Error(), "Testfile:3") {
		t.Errorf("ParseGlobal error %v should point at Testfile:3", err)
	}
	_, err = cfile.ParseHandler(caddyfile.NewTestDispenser("costlb {\n backend east 10.0.0.1:1\n\n lb_policy first\n}"))
	if err == nil || !strings.Contains(err.Error(), "Testfile:4") {
		t.Errorf("ParseHandler error %v should point at Testfile:4", err)
	}
}
