package l4handler

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/mholt/caddy-l4/modules/l4proxy"
)

func TestCheckReadyURL(t *testing.T) {
	for _, ok := range []string{"http://127.0.0.1:9180/ready/web", "https://b.example.com/costlb/ready/orders-db", "http://[::1]:80/ready/x"} {
		if err := checkReadyURL(ok); err != nil {
			t.Errorf("checkReadyURL(%q): %v", ok, err)
		}
	}
	for raw, want := range map[string]string{
		"ftp://127.0.0.1/ready/x":   `scheme "ftp": must be http or https`,
		"127.0.0.1:9180/ready/x":    "127.0.0.1:9180/ready/x",
		"http:///ready/x":           "no host",
		"http://bad host/ready":     "malformed URL",
		"http://{env.PEER}/ready/x": "placeholders are not supported",
		"/ready/x":                  `scheme "": must be http or https`,
	} {
		err := checkReadyURL(raw)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), fmt.Sprintf("%q", raw)) {
			t.Errorf("checkReadyURL(%q) = %v, want an error naming it and containing %q", raw, err, want)
		}
	}
}

// TestCheckReadyURLRedacts: an error about a readiness URL never shows
// its password.
func TestCheckReadyURLRedacts(t *testing.T) {
	if err := checkReadyURL("http://ops:S3cret@b:99999/ready/x"); err == nil || strings.Contains(err.Error(), "S3cret") {
		t.Errorf("checkReadyURL error %v: want an error without the password", err)
	}
	if err := checkReadyURL("http://ops:S3cret@b:9180/ready/%zz"); err == nil || strings.Contains(err.Error(), "S3cret") {
		t.Errorf("checkReadyURL error %v: want an error without the password", err)
	}
}

// TestReadyPeriod: the readiness poll follows the service's active health
// check settings as written, one second for each one not set (never
// caddy-l4's own defaults of 30 s and 5 s).
func TestReadyPeriod(t *testing.T) {
	d := func(s string) caddy.Duration { v, _ := time.ParseDuration(s); return caddy.Duration(v) }
	tests := []struct {
		hc                *l4proxy.HealthChecks
		interval, timeout time.Duration
	}{
		{nil, time.Second, time.Second},
		{&l4proxy.HealthChecks{Passive: &l4proxy.PassiveHealthChecks{FailDuration: d("10s")}}, time.Second, time.Second},
		{&l4proxy.HealthChecks{Active: &l4proxy.ActiveHealthChecks{Timeout: d("500ms")}}, time.Second, 500 * time.Millisecond},
		{&l4proxy.HealthChecks{Active: &l4proxy.ActiveHealthChecks{Interval: d("2s")}}, 2 * time.Second, time.Second},
		{&l4proxy.HealthChecks{Active: &l4proxy.ActiveHealthChecks{Interval: d("200ms"), Timeout: d("100ms")}}, 200 * time.Millisecond, 100 * time.Millisecond},
	}
	for i, tt := range tests {
		if iv, to := (&Handler{HealthChecks: tt.hc}).readyPeriod(); iv != tt.interval || to != tt.timeout {
			t.Errorf("case %d: interval %v, timeout %v; want %v, %v", i, iv, to, tt.interval, tt.timeout)
		}
	}
}
