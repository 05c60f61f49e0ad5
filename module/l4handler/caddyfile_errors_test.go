package l4handler

import (
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/costlb/costlb/module"
	"github.com/costlb/costlb/module/internal/moduletest"
)

func TestHandlerCaddyfileInvalid(t *testing.T) {
	const be = "\n backend east 10.0.0.1:1\n"
	tests := []struct {
		name  string
		input string
		want  []string
	}{
		{"empty braces", "costlb {}", []string{`unexpected argument "{}"`}},
		{"argument", "costlb foo {" + be + "}", []string{`unexpected argument "foo"`, "options go in a block"}},
		{"address as argument", "costlb 10.0.0.1:1", []string{`unexpected argument "10.0.0.1:1"`, "backend <site> <address...>"}},
		{"backend weight 0", "costlb {\n backend east 127.0.0.1:1 {\n  weight 0\n }\n}", []string{`costlb: backend east: weight "0" is too small`, "from 1 to 1000", `(JSON: "weight")`, "Testfile:3"}},
		{"backend weight 1001", "costlb {\n backend east 127.0.0.1:1 {\n  weight 1001\n }\n}", []string{`weight "1001" is too large`, "from 1 to 1000"}},
		{"backend weight x", "costlb {\n backend east 127.0.0.1:1 {\n  weight x\n }\n}", []string{`weight "x" is not a number`, "from 1 to 1000"}},
		{"slow_start zero", "costlb {" + be + " slow_start 0s\n}", []string{`slow_start "0s": must be a positive duration`}},
		{"slow_start twice", "costlb {" + be + " slow_start 1s\n slow_start 2s\n}", []string{"slow_start given twice"}},
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
		{"link_cost 0", "costlb {" + be + " link_cost east west 0\n}", []string{"link_cost east west", `cost "0"`, moduletest.CostRule}},
		{"link_cost too big", "costlb {" + be + " link_cost east west 2147483648\n}", []string{`cost "2147483648"`, moduletest.CostRule}},
		{"link_cost fraction", "costlb {" + be + " link_cost east west 2.5\n}", []string{`cost "2.5"`, moduletest.CostRule}},
		{"link_cost with block", "costlb {" + be + " link_cost east west 3 {\n  x\n }\n}", []string{`"link_cost"`, "does not take a block"}},
		{"bad duration", "costlb {" + be + " health_interval soon\n}", []string{"health_interval", `"soon"`}},
		{"duration missing", "costlb {" + be + " lb_try_duration\n}", []string{"lb_try_duration"}},
		{"duplicate proxy option", "costlb {" + be + " fail_duration 1s\n fail_duration 2s\n}", []string{"duplicate", "fail_duration"}},
		{"bad integer", "costlb {" + be + " max_fails many\n}", []string{"max_fails", `"many"`}},
		{"proxy option with block", "costlb {" + be + " health_port 9000 {\n  x\n }\n}", []string{"health_port", "blocks are not supported"}},
		{"data_path unknown", "costlb {" + be + " data_path epoll\n}", []string{`data_path "epoll"`, `"auto"`, `"goroutines"`}},
		{"data_path without value", "costlb {" + be + " data_path\n}", []string{"data_path takes one value", "got 0"}},
		{"data_path twice", "costlb {" + be + " data_path auto\n data_path goroutines\n}", []string{"data_path given twice"}},
		{"data_path with block", "costlb {" + be + " data_path auto {\n  x\n }\n}", []string{`"data_path"`, "does not take a block"}},
		{"proxy_protocol without version", "costlb {" + be + " proxy_protocol\n}", []string{"proxy_protocol", "v1", "v2"}},
		{"proxy_protocol two versions", "costlb {" + be + " proxy_protocol v1 v2\n}", []string{"proxy_protocol", `"v2"`}},
		// costlb's own options
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
			_, err := unmarshalHandler(tt.input)
			moduletest.CheckErr(t, tt.input, err, tt.want)
		})
	}
}

func TestHandlerCaddyfileRefusesDurations(t *testing.T) {
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
			_, err := unmarshalHandler(input)
			moduletest.CheckErr(t, input, err, append(tt.want, "Testfile:3"))
		})
	}
}

// TestHandlerCaddyfileDurationErrorLocation: the refusal points at the line of
// the option, after other options and backends.
func TestHandlerCaddyfileDurationErrorLocation(t *testing.T) {
	input := "costlb {\n backend east 10.0.0.1:1\n health_interval 2s\n\n lb_try_duration -5s\n}"
	_, err := unmarshalHandler(input)
	if err == nil || !strings.Contains(err.Error(), "Testfile:5") || !strings.Contains(err.Error(), "lb_try_duration -5s") {
		t.Errorf("error %v should name lb_try_duration -5s at Testfile:5", err)
	}
}

// TestCaddyfileErrorsHaveLocation checks that parse errors point at the line.
func TestCaddyfileErrorsHaveLocation(t *testing.T) {
	err := new(module.App).UnmarshalCaddyfile(caddyfile.NewTestDispenser("costlb {\n site east\n link east west nope\n}"))
	if err == nil || !strings.Contains(err.Error(), "Testfile:3") {
		t.Errorf("App error %v should point at Testfile:3", err)
	}
	_, err = unmarshalHandler("costlb {\n backend east 10.0.0.1:1\n\n lb_policy first\n}")
	if err == nil || !strings.Contains(err.Error(), "Testfile:4") {
		t.Errorf("Handler error %v should point at Testfile:4", err)
	}
}
