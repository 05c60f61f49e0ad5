package caddyfile_test

import (
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	cfile "github.com/costlb/costlb/caddyfile"
)

func TestParseHandlerRefusesDurations(t *testing.T) {
	const be = "\n backend east 10.0.0.1:1\n"
	tests := []struct {
		option string
		want   []string
	}{
		{"health_interval -1s", []string{"health_interval -1s", "must be a positive duration"}},
		{"health_interval 0", []string{"health_interval 0:", "must be a positive duration", "default 30s"}},
		{"health_interval 0s", []string{"health_interval 0s:", "must be a positive duration"}},
		{"health_timeout -500ms", []string{"health_timeout -500ms", "must be a positive duration", "default 5s"}},
		{"health_timeout 0ms", []string{"health_timeout 0ms", "must be a positive duration"}},
		{"fail_duration -10s", []string{"fail_duration -10s", "must be a positive duration, or 0 for no passive health checks"}},
		{"lb_try_duration -5s", []string{"lb_try_duration -5s", "must be a positive duration, or 0 for no retries"}},
		{"lb_try_interval -1ns", []string{"lb_try_interval -1ns", "must be a positive duration", "default 250ms"}},
		{"lb_try_interval 0", []string{"lb_try_interval 0:", "must be a positive duration"}},
		{"health_interval -1d", []string{"health_interval -1d", "must be a positive duration"}},
	}
	for _, tt := range tests {
		t.Run(tt.option, func(t *testing.T) {
			input := "costlb {" + be + " " + tt.option + "\n}"
			_, err := cfile.ParseHandler(caddyfile.NewTestDispenser(input))
			checkErr(t, input, err, append(tt.want, "Testfile:3"))
		})
	}
}

// TestParseHandlerAcceptsDurations: positive durations, and zero where it
// means "off", parse as caddy-l4 parses them.
func TestParseHandlerAcceptsDurations(t *testing.T) {
	h := parseHandler(t, "costlb {\n backend east 10.0.0.1:1\n fail_duration 0\n lb_try_duration 0s\n health_interval 1ns\n health_timeout 1h\n lb_try_interval 1ms\n}")
	a, p, lb := h.Proxy.HealthChecks.Active, h.Proxy.HealthChecks.Passive, h.Proxy.LoadBalancing
	if p.FailDuration != 0 || lb.TryDuration != 0 || time.Duration(a.Interval) != time.Nanosecond ||
		time.Duration(a.Timeout) != time.Hour || time.Duration(lb.TryInterval) != time.Millisecond {
		t.Errorf("durations: active %+v passive %+v lb %+v", a, p, lb)
	}
}

// TestParseHandlerDurationErrorLocation: the refusal points at the line of
// the option, after other options and backends.
func TestParseHandlerDurationErrorLocation(t *testing.T) {
	input := "costlb {\n backend east 10.0.0.1:1\n health_interval 2s\n\n lb_try_duration -5s\n}"
	_, err := cfile.ParseHandler(caddyfile.NewTestDispenser(input))
	if err == nil || !strings.Contains(err.Error(), "Testfile:5") || !strings.Contains(err.Error(), "lb_try_duration -5s") {
		t.Errorf("error %v should name lb_try_duration -5s at Testfile:5", err)
	}
}
