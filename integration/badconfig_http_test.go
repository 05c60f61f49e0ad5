package integration

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/costlb/costlb/integration/harness"
)

// Bad input for the HTTP policy (reverse_proxy's lb_policy cost): every
// config error of the README that applies to it, through the real binary.

// bcHTTPUps are the static upstreams of most HTTP cases.
const bcHTTPUps = "127.0.0.1:9001 127.0.0.1:9002"

// bcHTTPCaddyfile returns a Caddyfile with global as the costlb global
// option's body (no costlb option when "") and one site whose
// reverse_proxy to upstreams has policy as its lb_policy line(s) and extra
// lines.
func bcHTTPCaddyfile(global, upstreams, policy, extra string) string {
	if global != "" {
		global = bcLines("costlb {", global, "}")
	}
	return strings.NewReplacer("GLOBAL", global, "UPSTREAMS", upstreams, "POLICY", policy, "EXTRA", extra).Replace(`{
	admin {ADMIN}
	GLOBAL
}
http://{LISTEN} {
	bind 127.0.0.1
	reverse_proxy UPSTREAMS {
		POLICY
		EXTRA
	}
}
`)
}

// bcHTTPPolicy returns the usual Caddyfile with body in the lb_policy cost
// block.
func bcHTTPPolicy(body string) string {
	return bcHTTPCaddyfile(bcNet, bcHTTPUps, bcLines("lb_policy cost {", body, "}"), "")
}

// bcHTTPJSON returns a JSON config with app as the costlb app (none when
// "") and a reverse_proxy to two upstreams with the cost policy's fields.
func bcHTTPJSON(app, fields string) string {
	apps := ""
	if app != "" {
		apps = `"costlb": ` + app + ",\n"
	}
	if fields != "" {
		fields = ", " + fields
	}
	return `{"admin": {"listen": "{ADMIN}"}, "apps": {` + apps + `"http": {"servers": {"s": {"listen": ["{LISTEN}"], "routes": [{"handle": [
		{"handler": "reverse_proxy", "upstreams": [{"dial": "127.0.0.1:9001"}, {"dial": "127.0.0.1:9002"}],
		 "load_balancing": {"selection_policy": {"policy": "cost"` + fields + `}}}]}]}}}}}`
}

const bcHTTPNotUpstream = "not one of this reverse_proxy's upstreams (127.0.0.1:9001, 127.0.0.1:9002)"

func badHTTPCaddyfiles() []badConfig {
	// a second site with another reverse_proxy using the cost policy
	second := func(policy string) string {
		return `http://127.0.0.1:15433 {
	bind 127.0.0.1
	reverse_proxy 127.0.0.1:9003 {
		lb_policy cost {
			` + policy + `
		}
	}
}
`
	}
	// the usual network and a layer4 costlb service named shop
	withLayer4 := `{
	admin {ADMIN}
	costlb {
		` + bcNet + `
	}
	layer4 {
		127.0.0.1:15434 {
			route {
				costlb {
					name shop
					` + bcBackend + `
				}
			}
		}
	}
}
`
	return []badConfig{
		{"missing costlb app", bcHTTPCaddyfile("", bcHTTPUps, "lb_policy cost", ""), []string{"lb_policy cost", "the costlb app is not configured", "costlb { site <name> }"}},
		{"unknown site", bcHTTPPolicy("site mars 127.0.0.1:9002"), []string{`site mars 127.0.0.1:9002: unknown site "mars"`, bcSitesList}},
		{"site on an island", bcHTTPPolicy("site x 127.0.0.1:9002"), []string{`"x"`, `no path from the local site "east"`, "link it to the network"}},
		{"address not an upstream", bcHTTPPolicy("site west 127.0.0.1:9999"), []string{`"127.0.0.1:9999"`, bcHTTPNotUpstream}},
		{"host not an upstream", bcHTTPPolicy("site west 10.9.9.9"), []string{`"10.9.9.9"`, bcHTTPNotUpstream, "or a host alone"}},
		{"upstream in two sites", bcHTTPPolicy(bcLines("site west 127.0.0.1:9002", "site north 127.0.0.1:9002")), []string{`"127.0.0.1:9002"`, "given twice", `"west"`, `"north"`}},
		{"address with placeholder", bcHTTPPolicy("site west {env.WEST}:9002"), []string{`"{env.WEST}:9002"`, "placeholders are not supported"}},
		{"address with port range", bcHTTPPolicy("site west 127.0.0.1:9001-9002"), []string{`"127.0.0.1:9001-9002"`, "give one port"}},
		{"address with bad port", bcHTTPPolicy("site west 127.0.0.1:99999"), []string{`"127.0.0.1:99999"`, "host:port"}},
		{"site without upstream", bcHTTPPolicy("site west"), []string{"site west names no upstream", "site <site> <upstream...>"}},
		{"site without anything", bcHTTPPolicy("site"), []string{"site needs a site name"}},
		{"link_cost for a missing link", bcHTTPPolicy("link_cost east north 3"), []string{`"east"`, `"north"`, "no link between", "existing link"}},
		{"link_cost unknown site", bcHTTPPolicy("link_cost east mars 3"), []string{`"mars"`, "does not exist in the site network"}},
		{"link_cost cost 0", bcHTTPPolicy("link_cost east west 0"), []string{`cost "0"`, bcCostRule}},
		{"link_cost without cost", bcHTTPPolicy("link_cost east west"), []string{`["east" "west"]`, "link_cost takes <site> <site> <cost>"}},
		{"proxy option inside the policy", bcHTTPPolicy("health_uri /healthz"), []string{`unknown option "health_uri"`, "allowed: name, site, link_cost", "reverse_proxy block"}},
		{"policy argument", bcHTTPCaddyfile(bcNet, bcHTTPUps, "lb_policy cost shop", ""), []string{`unexpected argument "shop"`, "options go in a block"}},
		{"name twice", bcHTTPPolicy(bcLines("name a", "name b")), []string{`"a"`, "name given twice"}},
		{"service name too long", bcHTTPPolicy("name " + strings.Repeat("n", 129)), []string{"lb_policy cost service name", "too long (129 bytes)", "1 to 128 bytes"}},
		{"option with block", bcHTTPPolicy(bcLines("site west 127.0.0.1:9002 {", "x", "}")), []string{`"site"`, "does not take a block"}},
		// Caddy's own reverse_proxy parser refuses the second lb_policy
		// before costlb sees it; its message names the line, not the value.
		{"lb_policy cost twice", bcHTTPCaddyfile(bcNet, bcHTTPUps, bcLines("lb_policy cost", "lb_policy cost"), ""), []string{"load balancing selection policy already specified", "Caddyfile:14"}},
		{"no upstreams", bcHTTPCaddyfile(bcNet, "", bcLines("lb_policy cost {", "name lonely", "}"), ""), []string{`"lonely"`, "has no upstreams"}},
		{"upstream given twice", bcHTTPCaddyfile(bcNet, "127.0.0.1:9001 127.0.0.1:9001 127.0.0.1:9002", "lb_policy cost", ""),
			[]string{`upstream "127.0.0.1:9001" is given twice`, "each address is one upstream", "weight 127.0.0.1:9001 <n>"}},
		{"two services named alike", bcHTTPPolicy("name shop") + second("name shop"), []string{`"shop"`, "service names must be unique"}},
		{"layer4 and HTTP named alike", withLayer4 + second("name shop"), []string{`"shop"`, "service names must be unique"}},
	}
}

func badHTTPJSONConfigs() []badConfig {
	return []badConfig{
		{"missing costlb app", bcHTTPJSON("", ""), []string{"the costlb app is not configured", "apps.costlb"}},
		{"unknown policy field", bcHTTPJSON(bcJSONNet, `"weight": 2`), []string{`unknown field "weight"`}},
		{"sites an object", bcHTTPJSON(bcJSONNet, `"sites": {}`), []string{"sites"}},
		{"site entry null", bcHTTPJSON(bcJSONNet, `"sites": [null]`), []string{"site entry #1 of 1 has no site", "one of: east, north, west, x, y"}},
		{"site entry without site", bcHTTPJSON(bcJSONNet, `"sites": [{"upstreams": ["127.0.0.1:9002"]}]`), []string{"site entry for 127.0.0.1:9002 has no site", "one of: east, north, west, x, y"}},
		{"unknown site", bcHTTPJSON(bcJSONNet, `"sites": [{"site": "mars", "upstreams": ["127.0.0.1:9002"]}]`), []string{`"mars"`, bcSitesList}},
		{"address not an upstream", bcHTTPJSON(bcJSONNet, `"sites": [{"site": "west", "upstreams": ["127.0.0.1:9999"]}]`), []string{`"127.0.0.1:9999"`, bcHTTPNotUpstream}},
		{"empty address", bcHTTPJSON(bcJSONNet, `"sites": [{"site": "west", "upstreams": [""]}]`), []string{`upstream ""`, "host:port or a host alone"}},
		{"link_cost cost 0", bcHTTPJSON(bcJSONNet, `"link_costs": [{"between": ["east", "west"], "cost": 0}]`), []string{"cost 0", bcCostRule}},
		{"link_cost cost fraction", bcHTTPJSON(bcJSONNet, `"link_costs": [{"between": ["east", "west"], "cost": 1.0000000000000002}]`), []string{"cost 1.0000000000000002", bcCostRule}},
		{"service name too long", bcHTTPJSON(bcJSONNet, `"name": "`+strings.Repeat("n", 129)+`"`), []string{"lb_policy cost service name", "too long (129 bytes)", "1 to 128 bytes"}},
		{"upstream given twice", strings.Replace(bcHTTPJSON(bcJSONNet, `"name": "shop"`), `{"dial": "127.0.0.1:9002"}`, `{"dial": "127.0.0.1:9002"}, {"dial": "127.0.0.1:9002"}`, 1),
			[]string{`"shop"`, `upstream "127.0.0.1:9002" is given twice`, "each address is one upstream", "weight 127.0.0.1:9002 <n>"}},
	}
}

func TestBadConfigValidateHTTP(t *testing.T) {
	for _, set := range []struct {
		kind  string
		cases []badConfig
	}{{"caddyfile", badHTTPCaddyfiles()}, {"json", badHTTPJSONConfigs()}} {
		for _, c := range set.cases {
			t.Run(set.kind+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				file, args := filepath.Join(dir, "caddy.json"), []string{}
				if set.kind == "caddyfile" {
					file, args = filepath.Join(dir, "Caddyfile"), []string{"--adapter", "caddyfile"}
				}
				if err := os.WriteFile(file, []byte(bcForValidate(c.config)), 0o644); err != nil {
					t.Fatal(err)
				}
				stdout, stderr, code := harness.RunCaddy(t, dir, append([]string{"validate", "--config", file}, args...)...)
				raw := stdout + stderr
				bcCheckRefusal(t, c, code == 0, raw, bcReadable(raw))
			})
		}
	}
}

// bcHTTPSpecCaddyfile is the README's HTTP example, on loopback.
const bcHTTPSpecCaddyfile = `{
	costlb {
		site east
		link east west 5
		link east dr 9999
	}
}
http://127.0.0.1:15480 {
	reverse_proxy 10.0.0.1:8080 10.0.0.2:8080 10.1.0.1:8080 10.9.0.1:8080 {
		lb_policy cost {
			name shop                 # optional; default http-<n>
			site west 10.1.0.1:8080   # upstreams not listed are in the local site
			site dr   10.9.0.1:8080
			link_cost east dr 9999    # this service only
		}
		health_uri /healthz
		lb_try_duration 2s
	}
}
`

// TestAdaptHTTPSpecExample: the README's HTTP example adapts to the policy
// JSON the README gives, and validates; so do a host alone and the addresses
// of dynamic upstreams.
func TestAdaptHTTPSpecExample(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(bcHTTPSpecCaddyfile), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := harness.RunCaddy(t, dir, "adapt", "--config", file, "--validate")
	if code != 0 {
		t.Fatalf("adapt --validate: exit %d\n%s", code, bcReadable(stdout+stderr))
	}
	var cfg any
	if err := json.Unmarshal([]byte(stdout), &cfg); err != nil {
		t.Fatalf("adapted config: %v\n%s", err, stdout)
	}
	route := bcDig(t, cfg, "apps", "http", "servers", "srv0", "routes").([]any)[0]
	handler := bcDig(t, route, "handle").([]any)[0]
	if sub, ok := bcDig(t, handler, "handler").(string); ok && sub == "subroute" {
		handler = bcDig(t, bcDig(t, handler, "routes").([]any)[0], "handle").([]any)[0]
	}
	got := bcDig(t, handler, "load_balancing", "selection_policy")
	want := bcJSONValue(t, `{"policy": "cost", "name": "shop",
		"sites": [{"site": "west", "upstreams": ["10.1.0.1:8080"]}, {"site": "dr", "upstreams": ["10.9.0.1:8080"]}],
		"link_costs": [{"between": ["east", "dr"], "cost": 9999}]}`)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("adapted policy\n%v\nwant the README's\n%v", got, want)
	}

	for name, cfg := range map[string]string{
		"host alone": bcHTTPPolicy("site west 127.0.0.1"),
		"dynamic":    bcHTTPCaddyfile(bcNet, "", bcLines("lb_policy cost {", "site west 10.1.0.1:8080 10.2.0.1", "}"), "dynamic a localhost 9001"),
	} {
		f := filepath.Join(dir, strings.ReplaceAll(name, " ", "-"))
		if err := os.WriteFile(f, []byte(bcForValidate(cfg)), 0o644); err != nil {
			t.Fatal(err)
		}
		if stdout, stderr, code := harness.RunCaddy(t, dir, "validate", "--config", f, "--adapter", "caddyfile"); code != 0 {
			t.Errorf("%s: refused (exit %d):\n%s\nconfig:\n%s", name, code, bcReadable(stdout+stderr), cfg)
		}
	}
}
