package integration

import (
	"bytes"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mholt/caddy-l4/modules/l4proxy"

	"github.com/costlb/costlb/integration/harness"
)

// Bad input: every config error the README lists, and malformed input around it,
// goes through the real binary (caddy validate, caddy adapt, POST /load),
// which must refuse it cleanly (no panic) with a message that names the
// offending value and says what is allowed.

// bcReadable returns Caddy's output with the msg and error fields of its JSON
// log lines unescaped, so that messages can be matched as written.
func bcReadable(out string) string {
	var b strings.Builder
	for _, line := range strings.Split(out, "\n") {
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) != nil {
			b.WriteString(line + "\n")
			continue
		}
		for _, k := range []string{"msg", "error"} {
			if s, ok := entry[k].(string); ok {
				b.WriteString(s + "\n")
			}
		}
	}
	return b.String()
}

// bcCheckRefusal checks one refusal: refused (not ok), no panic, and a
// message with every wanted substring.
func bcCheckRefusal(t *testing.T, c badConfig, accepted bool, raw, msg string) {
	t.Helper()
	if accepted {
		t.Fatalf("accepted; want a refusal containing %q\nconfig:\n%s\noutput:\n%s", c.want, c.config, raw)
	}
	if strings.Contains(raw, "goroutine ") || strings.Contains(raw, "panic") {
		t.Fatalf("refusal shows a panic:\n%s", raw)
	}
	for _, w := range c.want {
		if !strings.Contains(msg, w) {
			t.Errorf("refusal does not contain %q:\n%s", w, msg)
		}
	}
	if t.Failed() {
		t.Logf("config:\n%s", c.config)
	}
}

// bcForValidate fills the placeholders of a config that is only validated.
func bcForValidate(config string) string {
	config = strings.ReplaceAll(config, harness.AdminPlaceholder, "127.0.0.1:2999")
	return strings.ReplaceAll(config, bcListen, "127.0.0.1:15432")
}

// TestBadConfigValidate: caddy validate refuses every bad Caddyfile and
// JSON config, naming the problem.
func TestBadConfigValidate(t *testing.T) {
	for _, set := range []struct {
		adapter, file string
		cases         []badConfig
	}{
		{"caddyfile", "Caddyfile", badCaddyfiles()},
		{"json", "caddy.json", badJSONConfigs()},
	} {
		if len(set.cases) < 15 {
			t.Fatalf("only %d %s cases", len(set.cases), set.adapter)
		}
		for _, c := range set.cases {
			t.Run(set.adapter+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				file := filepath.Join(dir, set.file)
				if err := os.WriteFile(file, []byte(bcForValidate(c.config)), 0o644); err != nil {
					t.Fatal(err)
				}
				args := []string{"validate", "--config", file}
				if set.adapter == "caddyfile" { // JSON is Caddy's own format: no adapter
					args = append(args, "--adapter", "caddyfile")
				}
				stdout, stderr, code := harness.RunCaddy(t, dir, args...)
				raw := stdout + stderr
				bcCheckRefusal(t, c, code == 0, raw, bcReadable(raw))
			})
		}
	}
}

func TestGoodConfigValidate(t *testing.T) {
	for _, c := range bcGoodConfigs() {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			name, args := "caddy.json", []string{}
			if c.adapter == "caddyfile" {
				name, args = "Caddyfile", []string{"--adapter", "caddyfile"}
			}
			file := filepath.Join(dir, name)
			if err := os.WriteFile(file, []byte(bcForValidate(c.config)), 0o644); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, code := harness.RunCaddy(t, dir, append([]string{"validate", "--config", file}, args...)...)
			if code != 0 {
				t.Fatalf("refused (exit %d):\n%s\nconfig:\n%s", code, bcReadable(stdout+stderr), c.config)
			}
		})
	}
}

// bcSpecCaddyfile and bcSpecJSON are the README's examples, which describe
// the same service.
const bcSpecCaddyfile = `{
	costlb {
		site east             # the local site (required)
		link east west 5      # link <site> <site> [<cost>]
		link west north       # cost 1
	}
	layer4 {
		:5432 {
			route {
				costlb {
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
				}
			}
		}
	}
}
`

const bcSpecJSON = `{
  "apps": {
    "costlb": {
      "site": "east",
      "links": [{"between": ["east", "west"], "cost": 5},
                {"between": ["west", "north"]}]
    },
    "layer4": {"servers": {"db": {"listen": [":5432"], "routes": [{"handle": [{
      "handler": "costlb",
      "name": "orders-db",
      "backends": [
        {"site": "east", "dial": ["10.0.0.1:5432"]},
        {"site": "west", "dial": ["10.1.0.1:5432"], "max_connections": 100}
      ],
      "link_costs": [{"between": ["east", "west"], "cost": 9999}],
      "health_checks": {"active": {"interval": "2s", "timeout": "1s"},
                        "passive": {"fail_duration": "10s"}},
      "load_balancing": {"try_duration": "3s"}
    }]}]}}}
  }
}`

// TestAdaptSpecExample: caddy adapt turns the README's Caddyfile example into
// its JSON example, except that the Caddyfile's second east address is its
// own backend, and tls and proxy_protocol, which the JSON example leaves
// out, are there. Durations are compared by value ("2s" = 2000000000).
func TestAdaptSpecExample(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(bcSpecCaddyfile), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := harness.RunCaddy(t, dir, "adapt", "--config", file, "--adapter", "caddyfile")
	if code != 0 {
		t.Fatalf("caddy adapt: exit %d\n%s", code, bcReadable(stderr))
	}
	got := bcJSONValue(t, stdout)
	want := bcJSONValue(t, bcSpecJSON)

	wantServers := bcDig(t, want, "apps", "layer4", "servers").(map[string]any)
	gotServers := bcDig(t, got, "apps", "layer4", "servers").(map[string]any)
	if len(gotServers) != 1 {
		t.Fatalf("adapted servers: %v", gotServers)
	}
	for name := range gotServers { // the Caddyfile names its server srv0
		wantServers[name] = wantServers["db"]
		delete(wantServers, "db")
	}
	for _, v := range []any{want, got} {
		for _, s := range bcDig(t, v, "apps", "layer4", "servers").(map[string]any) {
			for _, r := range s.(map[string]any)["routes"].([]any) {
				for _, h := range r.(map[string]any)["handle"].([]any) {
					bcNormalizeProxyFields(t, h.(map[string]any))
				}
			}
		}
	}
	var wantHandler map[string]any
	for _, s := range wantServers {
		wantHandler = s.(map[string]any)["routes"].([]any)[0].(map[string]any)["handle"].([]any)[0].(map[string]any)
	}
	bes := wantHandler["backends"].([]any)
	west := bes[1].(map[string]any)
	west["tls"] = map[string]any{}
	wantHandler["backends"] = []any{bes[0], map[string]any{"site": "east", "dial": []any{"10.0.0.2:5432"}}, west}
	wantHandler["proxy_protocol"] = "v2"

	if !reflect.DeepEqual(got, want) {
		g, _ := json.MarshalIndent(got, "", "  ")
		w, _ := json.MarshalIndent(want, "", "  ")
		t.Errorf("caddy adapt of the README Caddyfile:\n%s\nwant (README JSON with the documented differences):\n%s", g, w)
	}

	// The adapted example must itself be a valid config.
	adapted := filepath.Join(dir, "adapted.json")
	if err := os.WriteFile(adapted, []byte(stdout), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := harness.RunCaddy(t, dir, "validate", "--config", adapted); code != 0 {
		t.Errorf("the adapted README example does not validate:\n%s", bcReadable(stderr))
	}
}

// bcNormalizeProxyFields rewrites health_checks and load_balancing through
// caddy-l4's own types, so that equal durations compare equal.
func bcNormalizeProxyFields(t *testing.T, h map[string]any) {
	t.Helper()
	for key, typ := range map[string]any{"health_checks": &l4proxy.HealthChecks{}, "load_balancing": &l4proxy.LoadBalancing{}} {
		v, ok := h[key]
		if !ok {
			continue
		}
		b, _ := json.Marshal(v)
		if err := json.Unmarshal(b, typ); err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		b, _ = json.Marshal(typ)
		h[key] = bcJSONValue(t, string(b))
	}
}

func bcJSONValue(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%v:\n%s", err, s)
	}
	return v
}

func bcDig(t *testing.T, v any, keys ...string) any {
	t.Helper()
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("no %q in %v", k, v)
		}
		v = m[k]
	}
	return v
}

// TestAdaptRefusesNetworkErrors: the README says caddy adapt refuses the
// config errors. Those of the site network alone can be found while
// adapting; caddy adapt --validate finds them all.
func TestAdaptRefusesNetworkErrors(t *testing.T) {
	cases := []badConfig{
		{"self link", bcCaddyfile(bcLines("site east", "link east east"), bcBackend), []string{`"east"`, "to itself"}},
		{"same pair twice", bcCaddyfile(bcLines("site east", "link east west", "link west east"), bcBackend), []string{"same pair of sites"}},
		{"site name with whitespace", bcCaddyfile(`site "east coast"`, bcBackend), []string{`"east coast"`, bcSiteRule}},
		{"cost just below 1", bcCaddyfile(bcLines("site east", "link east west 0.99999999999999999"), bcBackend), []string{`cost "0.99999999999999999"`, bcCostRule}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			file := filepath.Join(dir, "Caddyfile")
			if err := os.WriteFile(file, []byte(bcForValidate(c.config)), 0o644); err != nil {
				t.Fatal(err)
			}
			_, stderr, code := harness.RunCaddy(t, dir, "adapt", "--validate", "--config", file, "--adapter", "caddyfile")
			bcCheckRefusal(t, c, code == 0, stderr, bcReadable(stderr))

			// the global option's parser validates the network itself
			_, stderr, code = harness.RunCaddy(t, dir, "adapt", "--config", file, "--adapter", "caddyfile")
			bcCheckRefusal(t, c, code == 0, stderr, bcReadable(stderr))
		})
	}
}

// TestBadConfigReload: a running Caddy refuses every bad config on POST
// /load with an error status whose body names the problem, and keeps
// serving its config untouched.
func TestBadConfigReload(t *testing.T) {
	east := harness.StartBackend(t, "east")
	west := harness.StartBackend(t, "west")
	listen := harness.FreeAddr(t)
	good := strings.ReplaceAll(bcCaddyfile(bcNet, bcLines("name orders-db", "backend east "+east.Addr(), "backend west "+west.Addr())), bcListen, listen)
	c := harness.StartCaddy(t, good, "caddyfile")

	if name, err := harness.Once(listen, dialTimeout); err != nil || name != "east" {
		t.Fatalf("through caddy before the bad reloads: %q, %v", name, err)
	}
	// get retries connection errors: a POST /load that gets as far as
	// provisioning restarts Caddy's admin endpoint (same address), and a
	// request right after it can meet the old listener closing.
	get := func(t *testing.T, path string) any {
		t.Helper()
		var (
			status int
			body   []byte
			err    error
		)
		for try := 0; try < 50; try++ {
			if status, body, err = c.Get(path); err == nil {
				break
			}
			time.Sleep(20 * time.Millisecond)
		}
		if err != nil || status != http.StatusOK {
			t.Fatalf("GET %s: %d %v %s", path, status, err, body)
		}
		return bcJSONValue(t, string(body))
	}
	// The proxied connection of Once may still be counted for a moment.
	harness.WaitFor(t, 5*time.Second, func() bool {
		_, body, err := c.Get("/costlb/")
		return err == nil && bytes.Contains(body, []byte(`"live_connections": 0`)) &&
			!bytes.Contains(body, []byte(`"live_connections": 1`))
	}, "the first connection should end")
	baseView, baseConfig := get(t, "/costlb/"), get(t, "/config/")
	baseCounters := baseView.(map[string]any)["counters"]

	type load struct {
		c           badConfig
		contentType string
	}
	var loads []load
	for _, set := range []struct {
		kind, contentType string
		cases             []badConfig
	}{
		{"caddyfile", "text/caddyfile", badCaddyfiles()},
		{"json", "application/json", badJSONConfigs()},
		{"http-caddyfile", "text/caddyfile", badHTTPCaddyfiles()},
		{"http-json", "application/json", badHTTPJSONConfigs()},
	} {
		for _, bc := range set.cases {
			bc.name = set.kind + "/" + bc.name
			loads = append(loads, load{bc, set.contentType})
		}
	}
	for _, l := range loads {
		t.Run(l.c.name, func(t *testing.T) {
			cfg := strings.ReplaceAll(l.c.config, bcListen, listen)
			status, body, err := c.Load([]byte(cfg), l.contentType)
			if err != nil {
				t.Fatalf("POST /load: %v", err)
			}
			if status < 400 {
				// Back to the good config, and a new baseline: its
				// statistics start over.
				if st, b, err := c.Load([]byte(good), "text/caddyfile"); err != nil || st != http.StatusOK {
					t.Fatalf("restoring the good config: %d %v %s", st, err, b)
				}
				baseView, baseConfig = get(t, "/costlb/"), get(t, "/config/")
				baseCounters = baseView.(map[string]any)["counters"]
				t.Fatalf("POST /load accepted the bad config (status %d)", status)
			}
			var apiErr struct {
				Error string `json:"error"`
			}
			if err := json.Unmarshal(body, &apiErr); err != nil || apiErr.Error == "" {
				apiErr.Error = string(body)
			}
			if c.Exited() {
				t.Fatalf("caddy exited after POST /load; output:\n%s", c.Logs())
			}
			view, config := get(t, "/costlb/"), get(t, "/config/")
			if !reflect.DeepEqual(config, baseConfig) {
				t.Errorf("GET /config/ changed after the refused reload")
			}
			counters := view.(map[string]any)["counters"]
			view.(map[string]any)["counters"] = baseCounters
			if !reflect.DeepEqual(view, baseView) {
				t.Errorf("GET /costlb/ changed after the refused reload:\n%v\nwas\n%v", view, baseView)
			}
			view.(map[string]any)["counters"] = counters
			if t.Failed() {
				return
			}
			bcCheckRefusal(t, l.c, status < 400, string(body), apiErr.Error)
			if !reflect.DeepEqual(counters, baseCounters) {
				t.Errorf("a refused reload changed GET /costlb/ \"counters\": %v, was %v", counters, baseCounters)
			}
		})
	}

	if name, err := harness.Once(listen, dialTimeout); err != nil || name != "east" {
		t.Fatalf("through caddy after the bad reloads: %q, %v", name, err)
	}
}
