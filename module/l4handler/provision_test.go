package l4handler

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/costlb/costlb/module"
	"github.com/costlb/costlb/module/internal/moduletest"
)

// These tests provision configs in this process with caddy.Validate, which
// loads and provisions every app and module of a config (as `caddy validate`
// and the first half of POST /load do) but starts nothing. They change
// Caddy's global state, so none of them runs in parallel.

// pvNet is the costlb app used by most cases (moduletest.Net).
const pvNet = moduletest.Net

// pvBackend is a valid backends field.
const pvBackend = `"backends": [{"site": "east", "dial": ["127.0.0.1:9001"]}]`

// pvConfig returns a config with app as the costlb app (omitted when "")
// and one layer4 server on listen whose one route runs handlers, a comma
// separated list of handler objects.
func pvConfig(app, listen, handlers string) string {
	apps := ""
	if app != "" {
		apps = `"costlb": ` + app + `,`
	}
	return fmt.Sprintf(`{"apps": {%s
		"layer4": {"servers": {"db": {"listen": [%q], "routes": [{"handle": [%s]}]}}}}}`, apps, listen, handlers)
}

// pvHandler returns a costlb handler object with the given fields.
func pvHandler(fields string) string {
	if fields == "" {
		return `{"handler": "costlb"}`
	}
	return `{"handler": "costlb", ` + fields + `}`
}

// pvValidate decodes cfgJSON as Caddy does and validates it.
func pvValidate(cfgJSON string) error {
	var cfg *caddy.Config
	if err := caddy.StrictUnmarshalJSON([]byte(cfgJSON), &cfg); err != nil {
		return fmt.Errorf("decoding config: %w", err)
	}
	return caddy.Validate(cfg)
}

const pvCostRule = "must be an integer from 1 to 2147483647"

func TestProvisionRejects(t *testing.T) {
	const listen = "127.0.0.1:0"
	h := func(fields string) string { return pvConfig(pvNet, listen, pvHandler(fields)) }
	app := func(a string) string { return pvConfig(a, listen, pvHandler(pvBackend)) }
	tests := []struct {
		name   string
		config string
		want   []string
	}{
		{"missing costlb app", pvConfig("", listen, pvHandler(pvBackend)), []string{"the costlb app is not configured", "costlb { site <name> }", "apps.costlb"}},
		{"empty costlb app", app(`{}`), []string{"missing local site", "apps.costlb.site"}},
		{"no site", app(`{"links": [{"between": ["east", "west"]}]}`), []string{"missing local site"}},
		{"site not a string", app(`{"site": 5}`), []string{"site", "string"}},
		{"site with whitespace", app(`{"site": "east coast"}`), []string{`"east coast"`, "whitespace", "no whitespace or control characters"}},
		{"site with control character", app(`{"site": "ea\u0007st"}`), []string{`"ea\ast"`, "control character"}},
		{"site too long", app(`{"site": "` + strings.Repeat("s", 129) + `"}`), []string{"too long (129 bytes)", "1 to 128 bytes"}},
		{"unknown app field", app(`{"site": "east", "region": "eu"}`), []string{`unknown field "region"`}},
		{"links not an array", app(`{"site": "east", "links": {}}`), []string{"links"}},
		{"between a string", app(`{"site": "east", "links": [{"between": "east"}]}`), []string{`"east"`, "array of exactly 2 site names"}},
		{"between three sites", app(`{"site": "east", "links": [{"between": ["east", "west", "north"]}]}`), []string{"array of exactly 2 site names"}},
		{"link without between", app(`{"site": "east", "links": [{"cost": 3}]}`), []string{`no "between"`}},
		{"unknown link field", app(`{"site": "east", "links": [{"between": ["east", "west"], "latency": 3}]}`), []string{`"latency"`, `"between" and "cost"`}},
		{"cost string", app(`{"site": "east", "links": [{"between": ["east", "west"], "cost": "5"}]}`), []string{`cost "5"`, pvCostRule}},
		{"cost 0", app(`{"site": "east", "links": [{"between": ["east", "west"], "cost": 0}]}`), []string{"cost 0", pvCostRule}},
		{"cost negative", app(`{"site": "east", "links": [{"between": ["east", "west"], "cost": -1}]}`), []string{"cost -1", pvCostRule}},
		{"cost fraction", app(`{"site": "east", "links": [{"between": ["east", "west"], "cost": 1.5}]}`), []string{"cost 1.5", pvCostRule}},
		{"cost exponent fraction", app(`{"site": "east", "links": [{"between": ["east", "west"], "cost": 1e-3}]}`), []string{"cost 1e-3", pvCostRule}},
		{"cost above max", app(`{"site": "east", "links": [{"between": ["east", "west"], "cost": 2147483648}]}`), []string{"cost 2147483648", pvCostRule}},
		{"cost huge", app(`{"site": "east", "links": [{"between": ["east", "west"], "cost": 99999999999999999999999}]}`), []string{"cost 99999999999999999999999", pvCostRule}},
		{"cost null", app(`{"site": "east", "links": [{"between": ["east", "west"], "cost": null}]}`), []string{"cost null", pvCostRule}},
		{"self link", app(`{"site": "east", "links": [{"between": ["west", "west"]}]}`), []string{`"west"`, "to itself", "two different sites"}},
		{"same pair twice", app(`{"site": "east", "links": [{"between": ["east", "west"]}, {"between": ["east", "west"], "cost": 2}]}`), []string{"same pair of sites", "only once"}},
		{"same pair reversed", app(`{"site": "east", "links": [{"between": ["east", "west"]}, {"between": ["west", "east"]}]}`), []string{`"east"`, `"west"`, "same pair of sites"}},

		{"backends an object", h(`"backends": {}`), []string{"backends"}},
		{"backends empty", h(`"backends": []`), []string{"no backends", "backend <site> <address...>"}},
		{"no backends", h(``), []string{`"costlb-0"`, "no backends"}},
		{"named service without backends", h(`"name": "lonely"`), []string{`"lonely"`, "no backends"}},
		{"backend null", h(`"backends": [null]`), []string{"backend #1 of 1 is null", `{"site": "east", "dial": ["10.0.0.1:5432"]}`}},
		{"backend null among others", h(`"backends": [{"site": "east", "dial": ["127.0.0.1:9001"]}, null]`), []string{"backend #2 of 2 is null"}},
		{"backend empty", h(`"backends": [{}]`), []string{"backend #1 of 1 has no site"}},
		{"backend without site", h(`"backends": [{"dial": ["127.0.0.1:9001"]}]`), []string{"backend 127.0.0.1:9001 has no site", "one of: east, north, west, x, y"}},
		{"backend unknown site", h(`"backends": [{"site": "mars", "dial": ["127.0.0.1:9001"]}]`), []string{`backend 127.0.0.1:9001 (site mars): unknown site "mars"`, "sites in the network: east, north, west, x, y"}},
		{"third backend unknown site", h(`"backends": [{"site": "east", "dial": ["127.0.0.1:9001"]}, {"site": "west", "dial": ["127.0.0.1:9002"]},
			{"site": "west2", "dial": ["127.0.0.1:9003", "127.0.0.1:9004"]}]`), []string{`backend 127.0.0.1:9003 127.0.0.1:9004 (site west2): unknown site "west2"`}},
		{"backend with many addresses", h(`"backends": [{"site": "mars", "dial": ["127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3", "127.0.0.1:4"]}]`),
			[]string{`backend 127.0.0.1:1 127.0.0.1:2 127.0.0.1:3 … (4 addresses) (site mars): unknown site "mars"`}},
		{"backend site with whitespace", h(`"backends": [{"site": "east coast", "dial": ["127.0.0.1:9001"]}]`), []string{`backend 127.0.0.1:9001 (site "east coast"): unknown site "east coast"`}},
		{"backend on an island", h(`"backends": [{"site": "y", "dial": ["127.0.0.1:9001"]}]`), []string{`backend 127.0.0.1:9001 (site y): site "y"`, `no path from the local site "east"`}},
		{"local site named by no link (a typo)", pvConfig(`{"site": "eats", "links": [{"between": ["east", "west"], "cost": 5}]}`, listen,
			pvHandler(`"backends": [{"site": "east", "dial": ["127.0.0.1:9001"]}, {"site": "west", "dial": ["127.0.0.1:9002"]}]`)),
			[]string{`the local site "eats" is named by no link`, `the links name "east", "west"`, `did you mean "east"?`}},
		{"local site named by no link, only local backends", pvConfig(`{"site": "eats", "links": [{"between": ["east", "west"], "cost": 5}]}`, listen,
			pvHandler(`"backends": [{"site": "eats", "dial": ["127.0.0.1:9001"]}]`)),
			[]string{`the local site "eats" is named by no link`, `did you mean "east"?`}},
		{"no links, a backend in another site", pvConfig(`{"site": "eats"}`, listen, pvHandler(`"backends": [{"site": "east", "dial": ["127.0.0.1:9001"]}]`)),
			[]string{`backend 127.0.0.1:9001 (site east): the local site "eats" is named by no link (there are no links)`, `did you mean "east"?`}},
		{"backend without dial", h(`"backends": [{"site": "east"}]`), []string{`"east"`, "no dial address"}},
		{"dial a string", h(`"backends": [{"site": "east", "dial": "127.0.0.1:9001"}]`), []string{"dial", "[]string"}},
		{"address without port", h(`"backends": [{"site": "east", "dial": ["127.0.0.1"]}]`), []string{`backend 127.0.0.1 (site east): malformed address "127.0.0.1"`, "missing port", "host:port"}},
		{"address port 0", h(`"backends": [{"site": "east", "dial": ["127.0.0.1:0"]}]`), []string{`"127.0.0.1:0"`, "host:port"}},
		{"address port too big", h(`"backends": [{"site": "east", "dial": ["127.0.0.1:65536"]}]`), []string{`"127.0.0.1:65536"`, "host:port"}},
		{"address empty", h(`"backends": [{"site": "east", "dial": [""]}]`), []string{`""`, "host:port"}},
		{"address with placeholder", h(`"backends": [{"site": "east", "dial": ["{env.DB}:5432"]}]`), []string{`"{env.DB}:5432"`, "placeholders are not supported"}},
		{"address with port range", h(`"backends": [{"site": "east", "dial": ["127.0.0.1:9001-9003"]}]`), []string{`"127.0.0.1:9001-9003"`, "give one port"}},
		{"address twice in one backend", h(`"backends": [{"site": "east", "dial": ["127.0.0.1:9001", "127.0.0.1:9001"]}]`), []string{`"127.0.0.1:9001"`, "given twice", "each address is one backend"}},
		{"address twice across sites", h(`"backends": [{"site": "east", "dial": ["127.0.0.1:9001"]}, {"site": "west", "dial": ["tcp/127.0.0.1:9001"]}]`), []string{"127.0.0.1:9001", "given twice", `"east"`, `"west"`}},
		{"max_connections huge", h(`"backends": [{"site": "east", "dial": ["127.0.0.1:9001"], "max_connections": 1e20}]`), []string{"max_connections"}},
		{"max_connections negative", h(`"backends": [{"site": "east", "dial": ["127.0.0.1:9001"], "max_connections": -1}]`), []string{"backend 127.0.0.1:9001 (site east): max_connections -1"}},
		{"ready not a URL", h(`"backends": [{"site": "west", "dial": ["127.0.0.1:9002"], "ready": "http://bad host/ready/x"}]`), []string{`backend 127.0.0.1:9002 (site west): ready "http://bad host/ready/x"`, "malformed URL"}},
		{"ready scheme", h(`"backends": [{"site": "west", "dial": ["127.0.0.1:9002"], "ready": "tcp://127.0.0.1:9180/ready/x"}]`), []string{`ready "tcp://127.0.0.1:9180/ready/x"`, `scheme "tcp": must be http or https`}},
		{"ready port too big", h(`"backends": [{"site": "west", "dial": ["127.0.0.1:9002"], "ready": "http://127.0.0.1:99999/ready/x"}]`), []string{`ready "http://127.0.0.1:99999/ready/x"`, "port 99999: must be 1-65535"}},
		{"ready port 0", h(`"backends": [{"site": "west", "dial": ["127.0.0.1:9002"], "ready": "https://127.0.0.1:0/ready/x"}]`), []string{`ready "https://127.0.0.1:0/ready/x"`, "port 0: must be 1-65535"}},
		{"ready port beyond int", h(`"backends": [{"site": "west", "dial": ["127.0.0.1:9002"], "ready": "http://[::1]:99999999999999999999/ready/x"}]`), []string{"port 99999999999999999999: must be 1-65535"}},
		{"ready without host", h(`"backends": [{"site": "west", "dial": ["127.0.0.1:9002"], "ready": "http:/ready/x"}]`), []string{`ready "http:/ready/x"`, "no host"}},
		{"ready not a string", h(`"backends": [{"site": "west", "dial": ["127.0.0.1:9002"], "ready": true}]`), []string{"ready", "string"}},
		{"backend weight 0", h(`"backends": [{"site": "east", "dial": ["127.0.0.1:9001"], "weight": 0}]`),
			[]string{"backend 127.0.0.1:9001 (site east): weight 0 is too small", "a weight is a whole number from 1 to 1000", "(JSON: backends[0].weight)"}},
		{"backend weight 1001", h(`"backends": [{"site": "east", "dial": ["127.0.0.1:9001"]}, {"site": "west", "dial": ["127.0.0.1:9002"], "weight": 1001}]`),
			[]string{"backend 127.0.0.1:9002 (site west): weight 1001 is too large", "from 1 to 1000", "(JSON: backends[1].weight)"}},
		{"backend weight string", h(`"backends": [{"site": "east", "dial": ["127.0.0.1:9001"], "weight": "x"}]`),
			[]string{`weight "x" is not a number`, "from 1 to 1000", "(JSON: backends[0].weight)"}},
		{"backend weight fraction", h(`"backends": [{"site": "east", "dial": ["127.0.0.1:9001"], "weight": 1.5}]`), []string{"weight 1.5 is not a whole number"}},
		{"backend weight null", h(`"backends": [{"site": "east", "dial": ["127.0.0.1:9001"], "weight": null}]`), []string{"weight null is not a number"}},
		{"slow_start negative", h(pvBackend + `, "slow_start": -1000000000`), []string{"slow_start -1s", "positive duration", "(JSON: slow_start)"}},
		{"slow_start not a duration", h(pvBackend + `, "slow_start": "soon"`), []string{"soon"}},
		{"unknown backend field", h(`"backends": [{"site": "east", "dial": ["127.0.0.1:9001"], "zone": "a"}]`), []string{`unknown field "zone"`}},
		{"selection policy", h(pvBackend + `, "load_balancing": {"selection": {"policy": "round_robin"}}`), []string{"load_balancing.selection", "costlb is the selection policy"}},
		{"link_cost unknown site", h(pvBackend + `, "link_costs": [{"between": ["east", "mars"], "cost": 3}]`), []string{`"mars"`, "does not exist in the site network"}},
		{"link_cost for a missing link", h(pvBackend + `, "link_costs": [{"between": ["east", "north"], "cost": 3}]`), []string{`"east"`, `"north"`, "no link between", "existing link"}},
		{"link_cost self", h(pvBackend + `, "link_costs": [{"between": ["east", "east"], "cost": 3}]`), []string{`"east"`, "to itself"}},
		{"link_cost twice", h(pvBackend + `, "link_costs": [{"between": ["east", "west"], "cost": 3}, {"between": ["west", "east"], "cost": 4}]`), []string{"same link", "only once"}},
		{"link_cost cost 0", h(pvBackend + `, "link_costs": [{"between": ["east", "west"], "cost": 0}]`), []string{"cost 0", pvCostRule}},
		{"link_cost cost string", h(pvBackend + `, "link_costs": [{"between": ["east", "west"], "cost": "9999"}]`), []string{`cost "9999"`, pvCostRule}},
		{"proxy_protocol v3", h(pvBackend + `, "proxy_protocol": "v3"`), []string{`"v3"`, `"v1"`, `"v2"`}},
		{"data_path unknown", h(pvBackend + `, "data_path": "evloop"`), []string{`data_path "evloop"`, `"auto"`, `"goroutines"`}},
		{"health_checks an array", h(pvBackend + `, "health_checks": []`), []string{"health_checks"}},
		{"unknown handler field", h(pvBackend + `, "upstreams": []`), []string{`unknown field "upstreams"`}},
		{"duplicate service names", pvConfig(pvNet, listen,
			pvHandler(`"name": "db", "backends": [{"site": "east", "dial": ["127.0.0.1:9001"]}]`)+","+
				pvHandler(`"name": "db", "backends": [{"site": "west", "dial": ["127.0.0.1:9002"]}]`)),
			[]string{`"db"`, "service names must be unique"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := pvValidate(tt.config)
			if err == nil {
				t.Fatalf("accepted, want an error containing %q\n%s", tt.want, tt.config)
			}
			if strings.Contains(err.Error(), "panic") {
				t.Errorf("error mentions a panic: %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\n does not contain %q", err, w)
				}
			}
		})
	}
}

func TestProvisionAccepts(t *testing.T) {
	const listen = "127.0.0.1:0"
	tests := []struct {
		name   string
		config string
	}{
		{"spec example", `{"apps": {
			"costlb": {"site": "east", "links": [{"between": ["east", "west"], "cost": 5}, {"between": ["west", "north"]}]},
			"layer4": {"servers": {"db": {"listen": ["127.0.0.1:0"], "routes": [{"handle": [{
				"handler": "costlb",
				"name": "orders-db",
				"backends": [
					{"site": "east", "dial": ["10.0.0.1:5432"]},
					{"site": "west", "dial": ["10.1.0.1:5432"], "max_connections": 100}
				],
				"link_costs": [{"between": ["east", "west"], "cost": 9999}],
				"health_checks": {"passive": {"fail_duration": "10s"}},
				"load_balancing": {"try_duration": "3s"}
			}]}]}}}}}`},
		{"unicode sites", pvConfig(`{"site": "東京", "links": [{"between": ["東京", "大阪"], "cost": 3}, {"between": ["大阪", "café"]}]}`, listen,
			pvHandler(`"name": "データ", "backends": [{"site": "大阪", "dial": ["127.0.0.1:9001"]}, {"site": "café", "dial": ["127.0.0.1:9002"]}]`))},
		{"local site only", pvConfig(`{"site": "solo"}`, listen, pvHandler(`"backends": [{"site": "solo", "dial": ["127.0.0.1:9001"]}]`))},
		{"longest site name and max cost", pvConfig(`{"site": "`+strings.Repeat("a", 128)+`", "links": [{"between": ["`+strings.Repeat("a", 128)+`", "b"], "cost": 2147483647}]}`, listen,
			pvHandler(`"backends": [{"site": "b", "dial": ["127.0.0.1:9001"]}]`))},
		{"link_cost overrides", pvConfig(pvNet, listen, pvHandler(pvBackend+`, "link_costs": [{"between": ["west", "east"], "cost": 2147483647}, {"between": ["north", "west"], "cost": 1}]`))},
		{"island present but unused", pvConfig(pvNet, listen, pvHandler(`"backends": [{"site": "north", "dial": ["localhost:9001", "[::1]:9001"]}]`))},
		{"ready ports at the limits, and none", pvConfig(pvNet, listen, pvHandler(`"backends": [
			{"site": "west", "dial": ["127.0.0.1:9001"], "ready": "http://127.0.0.1:1/ready/a"},
			{"site": "west", "dial": ["127.0.0.1:9002"], "ready": "https://[::1]:65535/ready/a"},
			{"site": "north", "dial": ["127.0.0.1:9003"], "ready": "http://localhost/ready/a"}]`))},
		{"weights and slow start", pvConfig(pvNet, listen, pvHandler(`"slow_start": "10s", "backends": [
			{"site": "east", "dial": ["127.0.0.1:9001"], "weight": 1}, {"site": "east", "dial": ["127.0.0.1:9002"], "weight": 1000},
			{"site": "west", "dial": ["127.0.0.1:9003"], "weight": 3e0}]`))},
		{"two services", pvConfig(pvNet, listen, pvHandler(`"name": "a", `+pvBackend)+","+pvHandler(`"name": "b", `+pvBackend))},
		{"several unnamed services", pvConfig(pvNet, listen, pvHandler(`"name": "costlb-0", `+pvBackend)+","+pvHandler(pvBackend)+","+pvHandler(pvBackend))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := pvValidate(tt.config); err != nil {
				t.Fatalf("refused: %v\n%s", err, tt.config)
			}
		})
	}
}

// TestDefaultNameCollisionExplained: a name given by default (costlb-<n>)
// can meet the same name given later by the user; the error says that one
// of them was given by default and what to do.
func TestDefaultNameCollisionExplained(t *testing.T) {
	cfg := pvConfig(pvNet, "127.0.0.1:0", pvHandler(pvBackend)+","+pvHandler(pvBackend)+","+pvHandler(`"name": "costlb-1", `+pvBackend))
	err := pvValidate(cfg)
	if err == nil {
		t.Fatal("two services named costlb-1 accepted")
	}
	for _, want := range []string{`two services are named "costlb-1"`, "by default", "name the services explicitly"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not contain %q", err, want)
		}
	}
}

// TestAppErrorNotReportedAsMissing: when the costlb app is configured but
// invalid, a handler must not say that the app is "not configured". Caddy
// provisions apps in map order, so the handler sometimes loads the app
// first; try enough times to hit that order.
func TestAppErrorNotReportedAsMissing(t *testing.T) {
	cfg := pvConfig(`{"site": "east", "links": [{"between": ["east", "west"], "cost": 0}]}`, "127.0.0.1:0", pvHandler(pvBackend))
	for i := 0; i < 40; i++ {
		err := pvValidate(cfg)
		if err == nil {
			t.Fatal("cost 0 accepted")
		}
		if !strings.Contains(err.Error(), "cost 0") {
			t.Fatalf("error does not name the bad cost: %v", err)
		}
		if strings.Contains(err.Error(), "not configured") {
			t.Fatalf("a configured but invalid costlb app is reported as not configured: %v", err)
		}
	}
}

// TestValidateStartsNothing: validating a config provisions it but opens no
// listener and does not make its costlb app the running one.
func TestValidateStartsNothing(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	listen := ln.Addr().String()
	ln.Close()
	before := module.RunningApp()
	cfg := pvConfig(pvNet, listen, pvHandler(`"name": "v", `+pvBackend+`, "health_checks": {"passive": {"fail_duration": "1s"}}`))
	if err := pvValidate(cfg); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if module.RunningApp() != before {
		t.Error("caddy.Validate started the costlb app")
	}
	ln, err = net.Listen("tcp", listen)
	if err != nil {
		t.Fatalf("the layer4 listen address %s is taken after caddy.Validate: %v", listen, err)
	}
	ln.Close()
}

func pvGeneric(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return v
}

// TestLocalSiteTypoBlamesTheLocalSite: a typo in the local site is reported
// as such, not as a backend's site with no path from it.
func TestLocalSiteTypoBlamesTheLocalSite(t *testing.T) {
	cfg := pvConfig(`{"site": "eats", "links": [{"between": ["east", "west"], "cost": 5}]}`, "127.0.0.1:0",
		pvHandler(`"backends": [{"site": "east", "dial": ["127.0.0.1:9001"]}, {"site": "west", "dial": ["127.0.0.1:9002"]}]`))
	err := pvValidate(cfg)
	if err == nil || !strings.Contains(err.Error(), `the local site "eats" is named by no link`) || strings.Contains(err.Error(), "has no path") {
		t.Fatalf("got %v; want the local site named, not a backend's site blamed", err)
	}
}
