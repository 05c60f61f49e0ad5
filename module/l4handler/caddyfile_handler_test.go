package l4handler

import (
	"reflect"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/costlb/costlb/linkgraph"
	"github.com/costlb/costlb/module/internal/moduletest"
)

// unmarshalHandler parses a costlb handler block.
func unmarshalHandler(input string) (*Handler, error) {
	h := new(Handler)
	return h, h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
}

// mustHandler parses a costlb handler block and fails the test on error.
func mustHandler(t *testing.T, input string) *Handler {
	t.Helper()
	h, err := unmarshalHandler(input)
	if err != nil {
		t.Fatalf("UnmarshalCaddyfile: %v\ninput:\n%s", err, input)
	}
	return h
}

// TestHandlerUnmarshalCaddyfile checks the handler JSON the Caddyfile
// produces for the README example: one backend object per address.
func TestHandlerUnmarshalCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser(`costlb {
		name orders-db
		backend east 10.0.0.1:5432 10.0.0.2:5432
		backend west 10.1.0.1:5432 {
			max_connections 100
			tls
		}
		link_cost east west 9999
		health_interval 2s
		health_timeout 1s
		fail_duration 10s
		lb_try_duration 3s
		proxy_protocol v2
	}`)
	var h Handler
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	got := pvGeneric(t, caddyconfig.JSON(&h, nil))
	want := pvGeneric(t, []byte(`{
		"name": "orders-db",
		"backends": [
			{"site": "east", "dial": ["10.0.0.1:5432"]},
			{"site": "east", "dial": ["10.0.0.2:5432"]},
			{"site": "west", "dial": ["10.1.0.1:5432"], "max_connections": 100, "tls": {}}
		],
		"link_costs": [{"between": ["east", "west"], "cost": 9999}],
		"health_checks": {"active": {"interval": 2000000000, "timeout": 1000000000},
		                  "passive": {"fail_duration": 10000000000}},
		"load_balancing": {"try_duration": 3000000000},
		"proxy_protocol": "v2"
	}`))
	if !reflect.DeepEqual(got, want) {
		t.Errorf("handler JSON\n got %v\nwant %v", got, want)
	}
}

func TestHandlerCaddyfileProxyOptions(t *testing.T) {
	sec := func(d caddy.Duration) time.Duration { return time.Duration(d) }
	tests := []struct {
		option string
		check  func(p *Handler) bool
	}{
		{"health_interval 2s", func(p *Handler) bool { return sec(p.HealthChecks.Active.Interval) == 2*time.Second }},
		{"health_port 9000", func(p *Handler) bool { return p.HealthChecks.Active.Port == 9000 }},
		{"health_timeout 1500ms", func(p *Handler) bool { return sec(p.HealthChecks.Active.Timeout) == 1500*time.Millisecond }},
		{"health_fall 3", func(p *Handler) bool { return p.HealthChecks.Active.Fall == 3 }},
		{"health_rise 2", func(p *Handler) bool { return p.HealthChecks.Active.Rise == 2 }},
		{"close_if_unhealthy", func(p *Handler) bool { return p.HealthChecks.Active.CloseIfUnhealthy }},
		{"fail_duration 10s", func(p *Handler) bool { return sec(p.HealthChecks.Passive.FailDuration) == 10*time.Second }},
		{"max_fails 4", func(p *Handler) bool { return p.HealthChecks.Passive.MaxFails == 4 }},
		{"unhealthy_connection_count 50", func(p *Handler) bool { return p.HealthChecks.Passive.UnhealthyConnectionCount == 50 }},
		{"lb_try_duration 3s", func(p *Handler) bool { return sec(p.LoadBalancing.TryDuration) == 3*time.Second }},
		{"lb_try_interval 250ms", func(p *Handler) bool { return sec(p.LoadBalancing.TryInterval) == 250*time.Millisecond }},
		{"proxy_protocol v1", func(p *Handler) bool { return p.ProxyProtocol == "v1" }},
		{"proxy_protocol v2", func(p *Handler) bool { return p.ProxyProtocol == "v2" }},
	}
	for _, tt := range tests {
		t.Run(tt.option, func(t *testing.T) {
			input := "costlb {\n backend east 10.0.0.1:1\n " + tt.option + "\n}"
			h := mustHandler(t, input)
			if !tt.check(h) {
				t.Errorf("option %q not applied: health %+v lb %+v proxy_protocol %q", tt.option, h.HealthChecks, h.LoadBalancing, h.ProxyProtocol)
			}
			if len(h.Backends) != 1 {
				t.Errorf("%d backends, want 1", len(h.Backends))
			}
		})
	}

	// All of them at once, between and after backends.
	h := mustHandler(t, `costlb {
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
	a, p := h.HealthChecks.Active, h.HealthChecks.Passive
	if sec(a.Interval) != 2*time.Second || a.Port != 9000 || sec(a.Timeout) != time.Second || a.Fall != 3 || a.Rise != 2 || !a.CloseIfUnhealthy ||
		sec(p.FailDuration) != 10*time.Second || p.MaxFails != 4 || p.UnhealthyConnectionCount != 50 ||
		sec(h.LoadBalancing.TryDuration) != 3*time.Second || sec(h.LoadBalancing.TryInterval) != 250*time.Millisecond ||
		h.ProxyProtocol != "v1" || len(h.Backends) != 2 {
		t.Errorf("combined options: active %+v passive %+v lb %+v pp %q backends %d", a, p, h.LoadBalancing, h.ProxyProtocol, len(h.Backends))
	}
}

func TestHandlerCaddyfileBackends(t *testing.T) {
	t.Run("one backend per address", func(t *testing.T) {
		h := mustHandler(t, "costlb {\n backend east 10.0.0.1:1 10.0.0.2:1 tcp/10.0.0.3:1 [::1]:4\n backend west 10.1.0.1:1\n}")
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
		h := mustHandler(t, `costlb {
			backend east 10.0.0.1:1
			backend west 10.1.0.1:1 10.1.0.2:1 {
				max_connections 7
				ready http://10.1.0.9:9180/ready/web
			}
		}`)
		if len(h.Backends) != 3 {
			t.Fatalf("%d backends, want 3", len(h.Backends))
		}
		if h.Backends[0].ReadyURL != "" {
			t.Errorf("plain backend got ready %q", h.Backends[0].ReadyURL)
		}
		for _, b := range h.Backends[1:] {
			if b.ReadyURL != "http://10.1.0.9:9180/ready/web" || b.Upstream.MaxConnections != 7 {
				t.Errorf("backend %v: ready %q, max_connections %d; want the URL and 7", b.Upstream.Dial, b.ReadyURL, b.Upstream.MaxConnections)
			}
		}
	})

	t.Run("upstream options apply to every address", func(t *testing.T) {
		h := mustHandler(t, `costlb {
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
		h := mustHandler(t, "costlb {\n backend east {\n  dial 10.0.0.1:1 10.0.0.2:1\n }\n}")
		if len(h.Backends) != 2 || h.Backends[0].Site != "east" || h.Backends[1].Upstream.Dial[0] != "10.0.0.2:1" {
			t.Errorf("backends = %+v", h.Backends)
		}
	})

	t.Run("unicode site", func(t *testing.T) {
		h := mustHandler(t, "costlb {\n backend 東京 10.0.0.1:1\n link_cost 東京 大阪 7\n}")
		if len(h.Backends) != 1 || h.Backends[0].Site != "東京" || !reflect.DeepEqual(h.LinkCosts, []linkgraph.Link{moduletest.Link("東京", "大阪", 7)}) {
			t.Errorf("handler = %+v", h)
		}
	})

	t.Run("defaults", func(t *testing.T) {
		h := mustHandler(t, "costlb {\n backend east 10.0.0.1:1\n}")
		if h.Name != "" || h.LinkCosts != nil || h.HealthChecks != nil || h.LoadBalancing != nil || h.ProxyProtocol != "" ||
			h.DialTimeout != nil || h.FailOnSilentClose != 0 || h.MaxSilentCloses != 0 {
			t.Errorf("defaults: %+v", h)
		}
	})

	// An empty block parses; the missing backends are refused when the
	// service is provisioned (see module tests).
	t.Run("empty block", func(t *testing.T) {
		h := mustHandler(t, "costlb {\n}")
		if len(h.Backends) != 0 {
			t.Errorf("backends = %+v", h.Backends)
		}
	})
}

// TestHandlerCaddyfileOwnOptions: costlb's own handler options beyond caddy-l4's.
func TestHandlerCaddyfileOwnOptions(t *testing.T) {
	h := mustHandler(t, "costlb {\n backend east 10.0.0.1:1\n dial_timeout 750ms\n fail_on_silent_close 2s\n max_silent_closes 5\n fail_duration 10s\n}")
	if h.DialTimeout == nil || time.Duration(*h.DialTimeout) != 750*time.Millisecond || time.Duration(h.FailOnSilentClose) != 2*time.Second || h.MaxSilentCloses != 5 {
		t.Fatalf("dial_timeout %v, fail_on_silent_close %v, max_silent_closes %d; want 750ms, 2s, 5", h.DialTimeout, h.FailOnSilentClose, h.MaxSilentCloses)
	}
	if h.HealthChecks == nil || h.HealthChecks.Passive == nil || h.HealthChecks.Passive.FailDuration == 0 {
		t.Fatal("fail_duration next to costlb's options was lost")
	}
	for _, dp := range []string{"auto", "goroutines"} {
		if h := mustHandler(t, "costlb {\n backend east 10.0.0.1:1\n data_path "+dp+"\n}"); h.DataPath != dp {
			t.Fatalf("data_path %s parsed as %q", dp, h.DataPath)
		}
	}
}

// TestHandlerCaddyfileAcceptsDurations: positive durations, and zero where it
// means "off", parse as caddy-l4 parses them.
func TestHandlerCaddyfileAcceptsDurations(t *testing.T) {
	h := mustHandler(t, "costlb {\n backend east 10.0.0.1:1\n fail_duration 0\n lb_try_duration 0s\n health_interval 1ns\n health_timeout 1h\n lb_try_interval 1ms\n}")
	a, p, lb := h.HealthChecks.Active, h.HealthChecks.Passive, h.LoadBalancing
	if p.FailDuration != 0 || lb.TryDuration != 0 || time.Duration(a.Interval) != time.Nanosecond ||
		time.Duration(a.Timeout) != time.Hour || time.Duration(lb.TryInterval) != time.Millisecond {
		t.Errorf("durations: active %+v passive %+v lb %+v", a, p, lb)
	}
}
