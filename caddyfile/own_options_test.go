package caddyfile_test

import (
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	cfile "github.com/costlb/costlb/caddyfile"
)

// TestParseOwnOptions: costlb's own handler options beyond caddy-l4's.
func TestParseOwnOptions(t *testing.T) {
	h := parseHandler(t, "costlb {\n backend east 10.0.0.1:1\n dial_timeout 750ms\n fail_on_silent_close 2s\n max_silent_closes 5\n fail_duration 10s\n}")
	if h.DialTimeout != 750*time.Millisecond || h.FailOnSilentClose != 2*time.Second || h.MaxSilentCloses != 5 {
		t.Fatalf("dial_timeout %v, fail_on_silent_close %v, max_silent_closes %d; want 750ms, 2s, 5", h.DialTimeout, h.FailOnSilentClose, h.MaxSilentCloses)
	}
	if h.Proxy.HealthChecks == nil || h.Proxy.HealthChecks.Passive == nil || h.Proxy.HealthChecks.Passive.FailDuration == 0 {
		t.Fatal("fail_duration next to costlb's options was lost")
	}
	h = parseHandler(t, "costlb {\n backend east 10.0.0.1:1\n}")
	if h.DialTimeout != 0 || h.FailOnSilentClose != 0 || h.MaxSilentCloses != 0 {
		t.Fatalf("unset options parsed as %v, %v, %d; want zero", h.DialTimeout, h.FailOnSilentClose, h.MaxSilentCloses)
	}
}

func TestParseOwnOptionsInvalid(t *testing.T) {
	const be = "\n backend east 10.0.0.1:1\n"
	tests := []struct {
		name, input string
		want        []string
	}{
		{"dial_timeout 0", "costlb {" + be + " dial_timeout 0\n}", []string{`dial_timeout "0"`, "must be a positive duration"}},
		{"dial_timeout negative", "costlb {" + be + " dial_timeout -1s\n}", []string{`dial_timeout "-1s"`, "must be a positive duration"}},
		{"dial_timeout not a duration", "costlb {" + be + " dial_timeout soon\n}", []string{`dial_timeout "soon"`, "e.g. 3s"}},
		{"dial_timeout missing", "costlb {" + be + " dial_timeout\n}", []string{"dial_timeout takes one value", "got 0"}},
		{"dial_timeout twice", "costlb {" + be + " dial_timeout 1s\n dial_timeout 2s\n}", []string{"dial_timeout given twice"}},
		{"dial_timeout with block", "costlb {" + be + " dial_timeout 1s {\n  x\n }\n}", []string{`"dial_timeout"`, "does not take a block"}},
		{"fail_on_silent_close 0", "costlb {" + be + " fail_on_silent_close 0s\n}", []string{`fail_on_silent_close "0s"`, "must be a positive duration"}},
		{"fail_on_silent_close two values", "costlb {" + be + " fail_on_silent_close 1s 2s\n}", []string{"fail_on_silent_close takes one value", "got 2"}},
		{"max_silent_closes 0", "costlb {" + be + " max_silent_closes 0\n}", []string{`max_silent_closes "0"`, "1 or more"}},
		{"max_silent_closes not a number", "costlb {" + be + " max_silent_closes few\n}", []string{`max_silent_closes "few"`, "an integer"}},
		{"max_silent_closes twice", "costlb {" + be + " max_silent_closes 2\n max_silent_closes 3\n}", []string{"max_silent_closes given twice"}},
		{"unknown option lists them", "costlb {" + be + " dial_timeouts 1s\n}", []string{`unknown option "dial_timeouts"`, "dial_timeout, fail_on_silent_close, max_silent_closes"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := cfile.ParseHandler(caddyfile.NewTestDispenser(tt.input))
			checkErr(t, tt.input, err, tt.want)
		})
	}
}
