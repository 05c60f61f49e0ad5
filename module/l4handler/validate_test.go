package l4handler

import (
	"strings"
	"testing"
)

func TestProvisionRefusesNegativeDurations(t *testing.T) {
	h := func(fields string) string {
		return pvConfig(pvNet, "127.0.0.1:0", pvHandler(`"name": "web", `+fields))
	}
	const positive = "must be a positive duration"
	tests := []struct {
		name, fields string
		want         []string
	}{
		{"health interval", pvBackend + `, "health_checks": {"active": {"interval": "-1s"}}`,
			[]string{`costlb service "web": health_interval -1s: ` + positive, "default 30s", "health_checks.active.interval"}},
		{"health interval in nanoseconds", pvBackend + `, "health_checks": {"active": {"interval": -5}}`,
			[]string{"health_interval -5ns: " + positive}},
		{"health timeout", pvBackend + `, "health_checks": {"active": {"timeout": "-2s"}}`,
			[]string{"health_timeout -2s: " + positive, "default 5s", "health_checks.active.timeout"}},
		{"fail duration", pvBackend + `, "health_checks": {"passive": {"fail_duration": "-10s"}}`,
			[]string{"fail_duration -10s: " + positive + ", or 0 for no passive health checks", "health_checks.passive.fail_duration"}},
		{"try duration", pvBackend + `, "load_balancing": {"try_duration": "-5s"}`,
			[]string{"lb_try_duration -5s: " + positive + ", or 0 for no retries", "load_balancing.try_duration"}},
		{"try interval", pvBackend + `, "load_balancing": {"try_duration": "1s", "try_interval": "-250ms"}`,
			[]string{"lb_try_interval -250ms: " + positive, "default 250ms", "load_balancing.try_interval"}},
		{"tls timeout", `"backends": [{"site": "east", "dial": ["127.0.0.1:9001"]}, {"site": "west", "dial": ["127.0.0.1:9002"], "tls": {"handshake_timeout": "-3s"}}]`,
			[]string{`backend 127.0.0.1:9002 (site west): tls_timeout -3s: ` + positive, "tls.handshake_timeout"}},
		{"every negative named", pvBackend + `, "health_checks": {"active": {"interval": "-1s", "timeout": "-1m"}}, "load_balancing": {"try_duration": "-1h"}`,
			[]string{"health_interval -1s", "health_timeout -1m0s", "lb_try_duration -1h0m0s"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := h(tt.fields)
			err := pvValidate(cfg)
			if err == nil {
				t.Fatalf("accepted:\n%s", cfg)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\n does not contain %q", err, w)
				}
			}
		})
	}
}

// TestProvisionAcceptsDurations: zero is the JSON value of an option not
// given (caddy-l4's default), and positive durations are accepted.
func TestProvisionAcceptsDurations(t *testing.T) {
	for _, fields := range []string{
		`"health_checks": {"active": {"interval": "0s", "timeout": 0}, "passive": {"fail_duration": 0}}, "load_balancing": {"try_duration": 0, "try_interval": "0s"}`,
		`"health_checks": {"active": {"interval": "1ms", "timeout": "1h"}, "passive": {"fail_duration": "10s"}}, "load_balancing": {"try_duration": "3s", "try_interval": "1ms"}`,
	} {
		cfg := pvConfig(pvNet, "127.0.0.1:0", pvHandler(pvBackend+", "+fields))
		if err := pvValidate(cfg); err != nil {
			t.Errorf("refused: %v\n%s", err, cfg)
		}
	}
	cfg := pvConfig(pvNet, "127.0.0.1:0", pvHandler(`"backends": [{"site": "east", "dial": ["127.0.0.1:9001"], "tls": {"handshake_timeout": "2s"}}]`))
	if err := pvValidate(cfg); err != nil {
		t.Errorf("tls handshake_timeout 2s refused: %v", err)
	}
}

func TestProvisionServiceNameLength(t *testing.T) {
	named := func(name string) string {
		return pvConfig(pvNet, "127.0.0.1:0", pvHandler(`"name": "`+name+`", `+pvBackend))
	}
	if err := pvValidate(named(strings.Repeat("n", 128))); err != nil {
		t.Errorf("a 128-byte name refused: %v", err)
	}
	if err := pvValidate(named(strings.Repeat("é", 64))); err != nil {
		t.Errorf("a 128-byte name of 64 two-byte runes refused: %v", err)
	}
	err := pvValidate(named(strings.Repeat("n", 129)))
	if err == nil {
		t.Fatal("a 129-byte service name accepted")
	}
	for _, w := range []string{"service name", "too long (129 bytes)", "1 to 128 bytes"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
	err = pvValidate(named(strings.Repeat("ü", 500000)))
	if err == nil || !strings.Contains(err.Error(), "too long (1000000 bytes)") {
		t.Fatalf("a 1 MB service name: %v", err)
	}
	if len(err.Error()) > 1000 {
		t.Errorf("the error for a 1 MB name is %d bytes long: the name should be cut short", len(err.Error()))
	}
	if !strings.Contains(err.Error(), `"`+strings.Repeat("ü", 80)+`"…`) {
		t.Errorf("the error does not quote the name's first 160 bytes, cut at a rune boundary: %.300s", err)
	}
}

// fzCheckOptions checks, for FuzzProvisionJSON, that an accepted service
// has a name of at most 128 bytes and no negative duration.
func fzCheckOptions(t *testing.T, h *Handler, cfgJSON []byte) {
	t.Helper()
	if len(h.Name) > 128 {
		t.Fatalf("accepted a service name of %d bytes:\n%s", len(h.Name), cfgJSON)
	}
	var ds []int64
	if hc := h.HealthChecks; hc != nil {
		if a := hc.Active; a != nil {
			ds = append(ds, int64(a.Interval), int64(a.Timeout))
		}
		if p := hc.Passive; p != nil {
			ds = append(ds, int64(p.FailDuration))
		}
	}
	if lb := h.LoadBalancing; lb != nil {
		ds = append(ds, int64(lb.TryDuration), int64(lb.TryInterval))
	}
	for _, b := range h.Backends {
		if b != nil && b.TLS != nil {
			ds = append(ds, int64(b.TLS.HandshakeTimeout))
		}
	}
	for _, d := range ds {
		if d < 0 {
			t.Fatalf("accepted a negative duration %d:\n%s", d, cfgJSON)
		}
	}
}
