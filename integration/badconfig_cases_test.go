package integration

import "strings"

// The configs of the bad-config tests: every config error the README
// lists, and malformed input around it, in Caddyfile and JSON, and configs
// at the limits of what is allowed.

// bcListen is replaced by the layer4 listen address.
const bcListen = "{LISTEN}"

// badConfig is one config Caddy must refuse.
type badConfig struct {
	name   string
	config string   // with {ADMIN} and {LISTEN} placeholders
	want   []string // substrings of the refusal: the offending value and a hint of what is allowed
}

// bcNet is the site network of most Caddyfile cases: east is local, west
// and north are reachable, x and y are an island.
const bcNet = `site east
		link east west 5
		link west north
		link x y`

// bcBackend is a valid backend line.
const bcBackend = "backend east 127.0.0.1:9001"

// bcLines joins the lines of a Caddyfile block body.
func bcLines(lines ...string) string { return strings.Join(lines, "\n") }

// bcCaddyfileRaw returns a Caddyfile with global as the costlb global option (none
// when "") and handler as the only handler of a layer4 route.
func bcCaddyfileRaw(global, handler string) string {
	return strings.NewReplacer("GLOBAL", global, "HANDLER", handler).Replace(`{
	admin {ADMIN}
	GLOBAL
	layer4 {
		{LISTEN} {
			route {
				HANDLER
			}
		}
	}
}
`)
}

// bcCaddyfile returns a Caddyfile whose costlb global option has globalBody in its
// block and whose costlb handler has handlerBody in its block.
func bcCaddyfile(globalBody, handlerBody string) string {
	return bcCaddyfileRaw(bcLines("costlb {", globalBody, "}"), bcLines("costlb {", handlerBody, "}"))
}

// bcCaddyfileH returns a Caddyfile with the usual network and handlerBody.
func bcCaddyfileH(handlerBody string) string { return bcCaddyfile(bcNet, handlerBody) }

// bcJSONNet is the JSON twin of bcNet.
const bcJSONNet = `{"site": "east", "links": [{"between": ["east", "west"], "cost": 5}, {"between": ["west", "north"]}, {"between": ["x", "y"]}]}`

// bcJSONBackends is a valid backends field.
const bcJSONBackends = `"backends": [{"site": "east", "dial": ["127.0.0.1:9001"]}]`

// bcJSON returns a JSON config with app as the costlb app (none when "") and
// handlers (comma-separated objects) in the one route of a layer4 server.
func bcJSON(app, handlers string) string {
	apps := ""
	if app != "" {
		apps = `"costlb": ` + app + ",\n"
	}
	return `{"admin": {"listen": "{ADMIN}"}, "apps": {` + apps +
		`"layer4": {"servers": {"db": {"listen": ["{LISTEN}"], "routes": [{"handle": [` + handlers + `]}]}}}}}`
}

// bcJSONH returns a JSON config with the usual network and one costlb handler
// with the given fields.
func bcJSONH(fields string) string {
	if fields != "" {
		fields = ", " + fields
	}
	return bcJSON(bcJSONNet, `{"handler": "costlb"`+fields+`}`)
}

// bcJSONApp returns a JSON config with app as the costlb app and a valid handler.
func bcJSONApp(app string) string { return bcJSON(app, `{"handler": "costlb", `+bcJSONBackends+`}`) }

const (
	bcCostRule  = "must be an integer from 1 to 2147483647"
	bcSiteRule  = "no whitespace or control characters"
	bcSitesList = "sites in the network: east, north, west, x, y"
	bcPositive  = "must be a positive duration"
)

func badCaddyfiles() []badConfig {
	long := strings.Repeat("s", 129)
	return []badConfig{
		// the costlb app and its site
		{"missing costlb app", bcCaddyfileRaw("", bcLines("costlb {", bcBackend, "}")), []string{"the costlb app is not configured", "costlb { site <name> }"}},
		{"missing site", bcCaddyfile("link east west 5", bcBackend), []string{"missing 'site <name>'", "required"}},
		{"empty global block", bcCaddyfileRaw(bcLines("costlb {", "}"), bcLines("costlb {", bcBackend, "}")), []string{"missing 'site <name>'"}},
		{"empty global braces", bcCaddyfileRaw("costlb {}", bcLines("costlb {", bcBackend, "}")), []string{"'{}'"}},
		{"global option twice", bcCaddyfileRaw(bcLines("costlb {", "site east", "}", "costlb {", "site west", "}"), bcLines("costlb {", bcBackend, "}")),
			[]string{"given twice", "one costlb block"}},
		{"global argument", bcCaddyfileRaw(bcLines("costlb east {", "site east", "}"), bcLines("costlb {", bcBackend, "}")), []string{`unexpected argument "east"`, "costlb { site <name> ... }"}},
		{"site without name", bcCaddyfile("site", bcBackend), []string{"site takes exactly one name", "got 0"}},
		{"site with two names", bcCaddyfile("site east west", bcBackend), []string{`"west"`, "site takes exactly one name"}},
		{"site twice", bcCaddyfile(bcLines("site east", "site west"), bcBackend), []string{`"east"`, `"west"`, "exactly one site"}},
		{"unknown global option", bcCaddyfile(bcLines("site east", "region eu"), bcBackend), []string{`unknown option "region"`, "site <name>, link <site> <site> [<cost>|auto]"}},
		{"global option with block", bcCaddyfile(bcLines("site east {", "zone a", "}"), bcBackend), []string{`"site"`, "does not take a block"}},
		{"site name with whitespace", bcCaddyfile(`site "east coast"`, "backend \"east coast\" 127.0.0.1:9001"), []string{`"east coast"`, "whitespace", bcSiteRule}},
		{"site name with control character", bcCaddyfile("site \"ea\x07st\"", "backend \"ea\x07st\" 127.0.0.1:9001"), []string{`"ea\ast"`, "control character", bcSiteRule}},
		{"site name too long", bcCaddyfile("site "+long, "backend "+long+" 127.0.0.1:9001"), []string{"too long (129 bytes)", "1 to 128 bytes"}},
		{"link site with whitespace", bcCaddyfile(bcLines("site east", `link east "new york"`), bcBackend), []string{`"new york"`, "whitespace", bcSiteRule}},

		// links and costs
		{"link with one site", bcCaddyfile(bcLines("site east", "link east"), bcBackend), []string{`["east"]`, "link takes <site> <site> [<cost>]"}},
		{"link with extra argument", bcCaddyfile(bcLines("site east", "link east west 3 4"), bcBackend), []string{`"4"`, "link takes <site> <site> [<cost>]"}},
		{"local site named by no link", bcCaddyfile(bcLines("site eats", "link east west 5"), bcLines("backend east 127.0.0.1:9001", "backend west 127.0.0.1:9002")),
			[]string{`the local site "eats" is named by no link`, `the links name "east", "west"`, `did you mean "east"?`}},
		{"no links, a backend in another site", bcCaddyfile("site eats", "backend east 127.0.0.1:9001"),
			[]string{`backend 127.0.0.1:9001 (site east): the local site "eats" is named by no link (there are no links)`, `did you mean "east"?`}},
		{"cost 0", bcCaddyfile(bcLines("site east", "link east west 0"), bcBackend), []string{`cost "0"`, bcCostRule}},
		{"cost negative", bcCaddyfile(bcLines("site east", "link east west -3"), bcBackend), []string{`cost "-3"`, bcCostRule}},
		{"cost above max", bcCaddyfile(bcLines("site east", "link east west 2147483648"), bcBackend), []string{`cost "2147483648"`, bcCostRule}},
		{"cost huge", bcCaddyfile(bcLines("site east", "link east west 99999999999"), bcBackend), []string{`cost "99999999999"`, bcCostRule}},
		{"cost beyond int64", bcCaddyfile(bcLines("site east", "link east west 123456789012345678901234567890"), bcBackend), []string{`cost "123456789012345678901234567890"`, bcCostRule}},
		{"cost fraction", bcCaddyfile(bcLines("site east", "link east west 1.5"), bcBackend), []string{`cost "1.5"`, bcCostRule}},
		{"cost just below 1", bcCaddyfile(bcLines("site east", "link east west 0.99999999999999999"), bcBackend), []string{`cost "0.99999999999999999"`, bcCostRule}},
		{"cost word", bcCaddyfile(bcLines("site east", "link east west abc"), bcBackend), []string{`cost "abc"`, bcCostRule}},
		{"cost exponent too large", bcCaddyfile(bcLines("site east", "link east west 1e10"), bcBackend), []string{`cost "1e10" is too large`, bcCostRule}},
		{"self link", bcCaddyfile(bcLines("site east", "link east east 3"), bcBackend), []string{`"east"`, "to itself", "two different sites"}},
		{"same pair twice", bcCaddyfile(bcLines("site east", "link east west 3", "link east west 4"), bcBackend), []string{`"east"`, `"west"`, "same pair of sites", "only once"}},
		{"same pair reversed", bcCaddyfile(bcLines("site east", "link east west 3", "link west east"), bcBackend), []string{`"east"`, `"west"`, "same pair of sites", "only once"}},

		// the service
		{"unknown backend site", bcCaddyfileH("backend mars 127.0.0.1:9001"), []string{`backend 127.0.0.1:9001 (site mars): unknown site "mars"`, bcSitesList}},
		{"third backend's site unknown", bcCaddyfileH(bcLines(bcBackend, "backend west 127.0.0.1:9002", "backend mars 127.0.0.1:9003 127.0.0.1:9004")),
			[]string{`backend 127.0.0.1:9003 (site mars): unknown site "mars"`, bcSitesList}},
		{"backend on an island", bcCaddyfileH("backend x 127.0.0.1:9001"), []string{`backend 127.0.0.1:9001 (site x): site "x"`, `no path from the local site "east"`, "link it to the network"}},
		{"backend with empty site", bcCaddyfileH(`backend "" 127.0.0.1:9001`), []string{"backend needs a site", "backend <site> <address...>"}},
		{"unknown link_cost site", bcCaddyfileH(bcLines(bcBackend, "link_cost east mars 3")), []string{`"mars"`, "does not exist in the site network"}},
		{"link_cost for a missing link", bcCaddyfileH(bcLines(bcBackend, "link_cost east north 3")), []string{`"east"`, `"north"`, "no link between", "existing link"}},
		{"link_cost twice", bcCaddyfileH(bcLines(bcBackend, "link_cost east west 3", "link_cost west east 4")), []string{"same link", "only once"}},
		{"link_cost without cost", bcCaddyfileH(bcLines(bcBackend, "link_cost east west")), []string{`["east" "west"]`, "link_cost takes <site> <site> <cost>"}},
		{"link_cost cost 0", bcCaddyfileH(bcLines(bcBackend, "link_cost east west 0")), []string{`cost "0"`, bcCostRule}},
		{"link_cost cost too big", bcCaddyfileH(bcLines(bcBackend, "link_cost east west 99999999999")), []string{`cost "99999999999"`, bcCostRule}},
		{"link_cost with block", bcCaddyfileH(bcLines(bcBackend, "link_cost east west 3 {", "x", "}")), []string{`"link_cost"`, "does not take a block"}},
		{"no backends", bcCaddyfileH("name lonely"), []string{`"lonely"`, "no backends", "backend <site> <address...>"}},
		{"empty handler block", bcCaddyfileRaw(bcLines("costlb {", bcNet, "}"), bcLines("costlb {", "}")), []string{`"costlb-0"`, "no backends"}},
		{"empty handler braces", bcCaddyfileRaw(bcLines("costlb {", bcNet, "}"), "costlb {}"), []string{"'{}'"}},
		{"handler argument", bcCaddyfileRaw(bcLines("costlb {", bcNet, "}"), bcLines("costlb orders {", bcBackend, "}")), []string{`unexpected argument "orders"`, "options go in a block"}},
		{"lb_policy", bcCaddyfileH(bcLines(bcBackend, "lb_policy round_robin")), []string{"lb_policy is not allowed", "costlb is the selection policy"}},
		{"upstream instead of backend", bcCaddyfileH("upstream 127.0.0.1:9001"), []string{"'upstream'", "backend <site> <address...>"}},
		{"unknown handler option", bcCaddyfileH(bcLines(bcBackend, "weight 3")), []string{`unknown option "weight"`, "allowed: name, backend, link_cost", "health_interval"}},
		{"name twice", bcCaddyfileH(bcLines("name a", "name b", bcBackend)), []string{`"a"`, "name given twice"}},
		{"name without value", bcCaddyfileH(bcLines("name", bcBackend)), []string{"name takes exactly one non-empty value"}},
		{"backend without site", bcCaddyfileH("backend"), []string{"backend needs a site", "backend <site> <address...>"}},
		{"backend without address", bcCaddyfileH("backend east"), []string{"backend east has no address", "backend <site> <address...>"}},
		{"backend unknown option", bcCaddyfileH(bcLines("backend east 127.0.0.1:9001 {", "zone a", "}")), []string{"zone", "max_connections"}},
		{"backend bad max_connections", bcCaddyfileH(bcLines("backend east 127.0.0.1:9001 {", "max_connections lots", "}")), []string{"max_connections", `"lots"`}},
		{"backend nested block", bcCaddyfileH(bcLines("backend east 127.0.0.1:9001 {", "tls {", "x", "}", "}")), []string{"'tls'", "blocks are not supported"}},
		{"address without port", bcCaddyfileH("backend east 127.0.0.1"), []string{`"127.0.0.1"`, "missing port", "host:port"}},
		{"address with bad port", bcCaddyfileH("backend east 127.0.0.1:99999"), []string{`"127.0.0.1:99999"`, "host:port"}},
		{"address with placeholder", bcCaddyfileH("backend east {env.DB_HOST}:5432"), []string{`"{env.DB_HOST}:5432"`, "placeholders are not supported"}},
		{"address with port range", bcCaddyfileH("backend east 127.0.0.1:9001-9005"), []string{`"127.0.0.1:9001-9005"`, "give one port"}},
		{"duplicate backend address", bcCaddyfileH(bcLines("backend east 127.0.0.1:9001", "backend west 127.0.0.1:9001")), []string{`"127.0.0.1:9001"`, "given twice", "each address is one backend"}},
		{"duplicate address on one line", bcCaddyfileH("backend east 127.0.0.1:9001 127.0.0.1:9001"), []string{`"127.0.0.1:9001"`, "given twice"}},
		{"duplicate service names", `{
	admin {ADMIN}
	costlb {
		` + bcNet + `
	}
	layer4 {
		{LISTEN} {
			route {
				costlb {
					name db
					backend east 127.0.0.1:9001
				}
			}
		}
		127.0.0.1:1 {
			route {
				costlb {
					name db
					backend west 127.0.0.1:9002
				}
			}
		}
	}
}
`,
			[]string{`"db"`, "service names must be unique"}},
		{"proxy_protocol v3", bcCaddyfileH(bcLines(bcBackend, "proxy_protocol v3")), []string{`"v3"`, `"v1"`, `"v2"`}},
		{"proxy_protocol without version", bcCaddyfileH(bcLines(bcBackend, "proxy_protocol")), []string{"proxy_protocol takes one of v1, v2"}},
		{"bad duration", bcCaddyfileH(bcLines(bcBackend, "health_interval soon")), []string{"health_interval", `"soon"`}},
		{"duplicate proxy option", bcCaddyfileH(bcLines(bcBackend, "fail_duration 1s", "fail_duration 2s")), []string{"duplicate", "fail_duration"}},
		{"health_interval negative", bcCaddyfileH(bcLines(bcBackend, "health_interval -1s")), []string{"health_interval -1s", bcPositive, "default 30s"}},
		{"health_interval zero", bcCaddyfileH(bcLines(bcBackend, "health_interval 0s")), []string{"health_interval 0s", bcPositive}},
		{"health_timeout negative", bcCaddyfileH(bcLines(bcBackend, "health_timeout -1s")), []string{"health_timeout -1s", bcPositive, "default 5s"}},
		{"health_timeout zero", bcCaddyfileH(bcLines(bcBackend, "health_timeout 0")), []string{"health_timeout 0", bcPositive}},
		{"fail_duration negative", bcCaddyfileH(bcLines(bcBackend, "fail_duration -10s")), []string{"fail_duration -10s", bcPositive + ", or 0 for no passive health checks"}},
		{"lb_try_duration negative", bcCaddyfileH(bcLines(bcBackend, "lb_try_duration -5s")), []string{"lb_try_duration -5s", bcPositive + ", or 0 for no retries"}},
		{"lb_try_interval negative", bcCaddyfileH(bcLines(bcBackend, "lb_try_duration 1s", "lb_try_interval -250ms")), []string{"lb_try_interval -250ms", bcPositive, "default 250ms"}},
		{"lb_try_interval zero", bcCaddyfileH(bcLines(bcBackend, "lb_try_duration 1s", "lb_try_interval 0")), []string{"lb_try_interval 0", bcPositive}},
		{"tls_timeout negative", bcCaddyfileH(bcLines("backend east 127.0.0.1:9001 {", "tls", "tls_timeout -3s", "}")), []string{"backend 127.0.0.1:9001 (site east): tls_timeout -3s", bcPositive}},
		{"service name too long", bcCaddyfileH(bcLines("name "+strings.Repeat("n", 129), bcBackend)), []string{"service name", "too long (129 bytes)", "1 to 128 bytes"}},

		// gateway backends and costlb_status
		{"ready malformed URL", bcCaddyfileH(bcLines(bcBackend, "backend west 127.0.0.1:9002 {", `ready "http://bad host/ready/web"`, "}")), []string{`ready "http://bad host/ready/web"`, "malformed URL"}},
		{"ready scheme", bcCaddyfileH(bcLines(bcBackend, "backend west 127.0.0.1:9002 {", "ready ftp://127.0.0.1:9180/ready/web", "}")), []string{`ready "ftp://127.0.0.1:9180/ready/web"`, `scheme "ftp": must be http or https`}},
		{"ready port too big", bcCaddyfileH(bcLines(bcBackend, "backend west 127.0.0.1:9002 {", "ready http://127.0.0.1:99999/ready/web", "}")), []string{`ready "http://127.0.0.1:99999/ready/web"`, "port 99999: must be 1-65535"}},
		{"ready port 0", bcCaddyfileH(bcLines(bcBackend, "backend west 127.0.0.1:9002 {", "ready http://127.0.0.1:0/ready/web", "}")), []string{`ready "http://127.0.0.1:0/ready/web"`, "port 0: must be 1-65535"}},
		{"ready outside a backend", bcCaddyfileH(bcLines(bcBackend, "ready http://127.0.0.1:9180/ready/web")), []string{"ready goes inside a backend block", "backend <site> <address> { ready <url> }"}},
		{"ready twice", bcCaddyfileH(bcLines(bcBackend, "backend west 127.0.0.1:9002 {", "ready http://127.0.0.1:9180/ready/a", "ready http://127.0.0.1:9180/ready/b", "}")), []string{"ready given twice", `"http://127.0.0.1:9180/ready/a"`, `"http://127.0.0.1:9180/ready/b"`}},
		{"costlb_status without the costlb app", `{
	admin {ADMIN}
}
http://{LISTEN} {
	costlb_status
}
`, []string{"costlb_status: the costlb app is not configured", "costlb { site <name> }"}},
		{"costlb_status with an argument", `{
	admin {ADMIN}
	costlb {
		site east
	}
}
http://{LISTEN} {
	costlb_status /costlb/* verbose
}
`, []string{`costlb_status: unexpected argument "verbose"`, "takes none"}},

		// data path options
		{name: "dial_timeout 0", config: bcCaddyfileH(bcLines(bcBackend, "dial_timeout 0")), want: []string{`dial_timeout "0"`, "must be a positive duration"}},
		{name: "silent closes without fail_duration", config: bcCaddyfileH(bcLines(bcBackend, "fail_on_silent_close 2s")), want: []string{"fail_on_silent_close needs fail_duration"}},
		{name: "max_silent_closes alone", config: bcCaddyfileH(bcLines(bcBackend, "max_silent_closes 3")), want: []string{"max_silent_closes 3 without fail_on_silent_close"}},
		{name: "udp backend", config: bcCaddyfileH("backend east udp/127.0.0.1:9001"), want: []string{`network "udp" is not supported`, "tcp, tcp4, tcp6 or unix"}},

		// health check numbers
		{name: "max_fails negative", config: bcCaddyfileH(bcLines(bcBackend, "fail_duration 10s", "max_fails -1")), want: []string{"max_fails -1", "must be 1 or more, or 0 for the default 1"}},
		{name: "unhealthy_connection_count negative", config: bcCaddyfileH(bcLines(bcBackend, "unhealthy_connection_count -5")), want: []string{"unhealthy_connection_count -5", "or 0 for no limit"}},
		{name: "health_port too big", config: bcCaddyfileH(bcLines(bcBackend, "health_port 70000")), want: []string{"health_port 70000", "1 to 65535"}},
		{name: "health_fall negative", config: bcCaddyfileH(bcLines(bcBackend, "health_fall -2")), want: []string{"health_fall -2", "must be 1 or more"}},
	}
}

func badJSONConfigs() []badConfig {
	return []badConfig{
		// the costlb app and its site
		{"ready scheme", bcJSONH(`"backends": [{"site": "west", "dial": ["127.0.0.1:9002"], "ready": "tcp://127.0.0.1:9180/ready/web"}]`), []string{`ready "tcp://127.0.0.1:9180/ready/web"`, `scheme "tcp": must be http or https`}},
		{"ready port too big", bcJSONH(`"backends": [{"site": "west", "dial": ["127.0.0.1:9002"], "ready": "http://127.0.0.1:99999/ready/web"}]`), []string{`ready "http://127.0.0.1:99999/ready/web"`, "port 99999: must be 1-65535"}},
		{"ready port 0", bcJSONH(`"backends": [{"site": "west", "dial": ["127.0.0.1:9002"], "ready": "https://127.0.0.1:0/ready/web"}]`), []string{`ready "https://127.0.0.1:0/ready/web"`, "port 0: must be 1-65535"}},
		{"ready not a string", bcJSONH(`"backends": [{"site": "west", "dial": ["127.0.0.1:9002"], "ready": ["http://127.0.0.1:9180/ready/web"]}]`), []string{"ready", "string"}},
		{"missing costlb app", bcJSON("", `{"handler": "costlb", `+bcJSONBackends+`}`), []string{"the costlb app is not configured", "apps.costlb"}},
		{"empty costlb app", bcJSONApp(`{}`), []string{"missing local site", "apps.costlb.site"}},
		{"no site", bcJSONApp(`{"links": [{"between": ["east", "west"]}]}`), []string{"missing local site", "apps.costlb.site"}},
		{"site a number", bcJSONApp(`{"site": 5}`), []string{"site", "string"}},
		{"site with whitespace", bcJSONApp(`{"site": "east coast"}`), []string{`"east coast"`, "whitespace", bcSiteRule}},
		{"site with control character", bcJSONApp(`{"site": "ea\u0007st"}`), []string{`"ea\ast"`, "control character", bcSiteRule}},
		{"unknown app field", bcJSONApp(`{"site": "east", "region": "eu"}`), []string{`unknown field "region"`}},
		{"links an object", bcJSONApp(`{"site": "east", "links": {}}`), []string{"links"}},

		// links and costs
		{"between a string", bcJSONApp(`{"site": "east", "links": [{"between": "east"}]}`), []string{`"east"`, "array of exactly 2 site names"}},
		{"between three sites", bcJSONApp(`{"site": "east", "links": [{"between": ["east", "west", "north"]}]}`), []string{`"north"]`, "array of exactly 2 site names"}},
		{"unknown link field", bcJSONApp(`{"site": "east", "links": [{"between": ["east", "west"], "latency": 3}]}`), []string{`"latency"`, `"between" and "cost"`}},
		{"local site named by no link", bcJSON(`{"site": "eats", "links": [{"between": ["east", "west"], "cost": 5}]}`,
			`{"handler": "costlb", "backends": [{"site": "east", "dial": ["127.0.0.1:9001"]}, {"site": "west", "dial": ["127.0.0.1:9002"]}]}`),
			[]string{`the local site "eats" is named by no link`, `the links name "east", "west"`, `did you mean "east"?`}},
		{"cost a string", bcJSONApp(`{"site": "east", "links": [{"between": ["east", "west"], "cost": "5"}]}`), []string{`cost "5"`, bcCostRule}},
		{"cost 0", bcJSONApp(`{"site": "east", "links": [{"between": ["east", "west"], "cost": 0}]}`), []string{"cost 0", bcCostRule}},
		{"cost negative", bcJSONApp(`{"site": "east", "links": [{"between": ["east", "west"], "cost": -1}]}`), []string{"cost -1", bcCostRule}},
		{"cost fraction", bcJSONApp(`{"site": "east", "links": [{"between": ["east", "west"], "cost": 1.5}]}`), []string{"cost 1.5", bcCostRule}},
		{"cost exponent fraction", bcJSONApp(`{"site": "east", "links": [{"between": ["east", "west"], "cost": 2.5e0}]}`), []string{"cost 2.5", bcCostRule}},
		{"cost above max", bcJSONApp(`{"site": "east", "links": [{"between": ["east", "west"], "cost": 2147483648}]}`), []string{"cost 2147483648", bcCostRule}},
		{"cost huge", bcJSONApp(`{"site": "east", "links": [{"between": ["east", "west"], "cost": 99999999999}]}`), []string{"cost 99999999999", bcCostRule}},
		{"cost next float64 above 1", bcJSONApp(`{"site": "east", "links": [{"between": ["east", "west"], "cost": 1.0000000000000002}]}`), []string{"cost 1.0000000000000002", bcCostRule}},
		{"cost beyond float64", bcJSONApp(`{"site": "east", "links": [{"between": ["east", "west"], "cost": 1e400}]}`), []string{"1e400"}},
		{"cost null", bcJSONApp(`{"site": "east", "links": [{"between": ["east", "west"], "cost": null}]}`), []string{"cost null", bcCostRule}},
		{"self link", bcJSONApp(`{"site": "east", "links": [{"between": ["east", "east"]}]}`), []string{`"east"`, "to itself", "two different sites"}},
		{"same pair twice", bcJSONApp(`{"site": "east", "links": [{"between": ["east", "west"]}, {"between": ["east", "west"], "cost": 2}]}`), []string{"same pair of sites", "only once"}},
		{"same pair reversed", bcJSONApp(`{"site": "east", "links": [{"between": ["east", "west"]}, {"between": ["west", "east"]}]}`), []string{`"east"`, `"west"`, "same pair of sites", "only once"}},

		// the service
		{"backends an object", bcJSONH(`"backends": {}`), []string{"backends"}},
		{"backends empty", bcJSONH(`"backends": []`), []string{"no backends", "backend <site> <address...>"}},
		{"no backends", bcJSONH(`"name": "lonely"`), []string{`"lonely"`, "no backends"}},
		{"backend null", bcJSONH(`"backends": [null]`), []string{"backend #1 of 1 is null"}},
		{"backend without site", bcJSONH(`"backends": [{"dial": ["127.0.0.1:9001"]}]`), []string{"backend 127.0.0.1:9001 has no site", "one of: east, north, west, x, y"}},
		{"backend unknown site", bcJSONH(`"backends": [{"site": "mars", "dial": ["127.0.0.1:9001"]}]`), []string{`backend 127.0.0.1:9001 (site mars): unknown site "mars"`, bcSitesList}},
		{"backend on an island", bcJSONH(`"backends": [{"site": "y", "dial": ["127.0.0.1:9001"]}]`), []string{`"y"`, `no path from the local site "east"`}},
		{"backend without dial", bcJSONH(`"backends": [{"site": "east", "dial": []}]`), []string{`"east"`, "no dial address"}},
		{"dial a string", bcJSONH(`"backends": [{"site": "east", "dial": "127.0.0.1:9001"}]`), []string{"dial", "[]string"}},
		{"address without port", bcJSONH(`"backends": [{"site": "east", "dial": ["127.0.0.1"]}]`), []string{`"127.0.0.1"`, "missing port", "host:port"}},
		{"address with bad port", bcJSONH(`"backends": [{"site": "east", "dial": ["127.0.0.1:99999"]}]`), []string{`"127.0.0.1:99999"`, "host:port"}},
		{"address empty", bcJSONH(`"backends": [{"site": "east", "dial": [""]}]`), []string{`address ""`, "host:port"}},
		{"address with placeholder", bcJSONH(`"backends": [{"site": "east", "dial": ["127.0.0.1:{env.DB_PORT}"]}]`), []string{`"127.0.0.1:{env.DB_PORT}"`, "placeholders are not supported"}},
		{"address with port range", bcJSONH(`"backends": [{"site": "east", "dial": ["127.0.0.1:9001-9003"]}]`), []string{`"127.0.0.1:9001-9003"`, "give one port"}},
		{"duplicate backend address", bcJSONH(`"backends": [{"site": "east", "dial": ["127.0.0.1:9001"]}, {"site": "west", "dial": ["127.0.0.1:9001"]}]`), []string{`"127.0.0.1:9001"`, "given twice", "each address is one backend"}},
		{"max_connections huge", bcJSONH(`"backends": [{"site": "east", "dial": ["127.0.0.1:9001"], "max_connections": 1e20}]`), []string{"max_connections", "100000000000000000000"}},
		{"selection", bcJSONH(bcJSONBackends + `, "load_balancing": {"selection": {"policy": "round_robin"}}`), []string{"load_balancing.selection", "costlb is the selection policy"}},
		{"link_cost unknown site", bcJSONH(bcJSONBackends + `, "link_costs": [{"between": ["east", "mars"], "cost": 3}]`), []string{`"mars"`, "does not exist in the site network"}},
		{"link_cost for a missing link", bcJSONH(bcJSONBackends + `, "link_costs": [{"between": ["east", "north"], "cost": 3}]`), []string{`"east"`, `"north"`, "no link between", "existing link"}},
		{"link_cost twice", bcJSONH(bcJSONBackends + `, "link_costs": [{"between": ["east", "west"], "cost": 3}, {"between": ["west", "east"], "cost": 4}]`), []string{"same link", "only once"}},
		{"link_cost cost 0", bcJSONH(bcJSONBackends + `, "link_costs": [{"between": ["east", "west"], "cost": 0}]`), []string{"cost 0", bcCostRule}},
		{"link_cost cost fraction", bcJSONH(bcJSONBackends + `, "link_costs": [{"between": ["east", "west"], "cost": 9999.000000000002}]`), []string{"cost 9999.000000000002", bcCostRule}},
		{"unknown handler field", bcJSONH(bcJSONBackends + `, "upstreams": [{"dial": ["127.0.0.1:9002"]}]`), []string{`unknown field "upstreams"`}},
		{"proxy_protocol v3", bcJSONH(bcJSONBackends + `, "proxy_protocol": "v3"`), []string{`"v3"`, `"v1"`, `"v2"`}},
		{"duplicate service names", bcJSON(bcJSONNet, `{"handler": "costlb", "name": "db", "backends": [{"site": "east", "dial": ["127.0.0.1:9001"]}]}, `+
			`{"handler": "costlb", "name": "db", "backends": [{"site": "west", "dial": ["127.0.0.1:9002"]}]}`), []string{`"db"`, "service names must be unique"}},
		{"not JSON", `{"apps": {"costlb": {"site": "east",}}}`, []string{"invalid character"}},
		{"health interval negative", bcJSONH(bcJSONBackends + `, "health_checks": {"active": {"interval": "-1s"}}`), []string{"health_interval -1s", bcPositive, "health_checks.active.interval"}},
		{"health timeout negative", bcJSONH(bcJSONBackends + `, "health_checks": {"active": {"timeout": "-1s"}}`), []string{"health_timeout -1s", bcPositive, "health_checks.active.timeout"}},
		{"fail_duration negative", bcJSONH(bcJSONBackends + `, "health_checks": {"passive": {"fail_duration": "-10s"}}`), []string{"fail_duration -10s", bcPositive, "health_checks.passive.fail_duration"}},
		{"try_duration negative", bcJSONH(bcJSONBackends + `, "load_balancing": {"try_duration": "-5s"}`), []string{"lb_try_duration -5s", bcPositive, "load_balancing.try_duration"}},
		{"try_interval negative", bcJSONH(bcJSONBackends + `, "load_balancing": {"try_duration": "1s", "try_interval": -1000000}`), []string{"lb_try_interval -1ms", bcPositive, "load_balancing.try_interval"}},
		{"tls handshake_timeout negative", bcJSONH(`"backends": [{"site": "west", "dial": ["127.0.0.1:9001"], "tls": {"handshake_timeout": "-3s"}}]`), []string{"backend 127.0.0.1:9001 (site west): tls_timeout -3s", bcPositive, "tls.handshake_timeout"}},
		{"service name too long", bcJSONH(`"name": "` + strings.Repeat("n", 129) + `", ` + bcJSONBackends), []string{"service name", "too long (129 bytes)", "1 to 128 bytes"}},

		// data path options
		{name: "JSON dial_timeout 0", config: bcJSONH(bcJSONBackends + `, "dial_timeout": "0s"`), want: []string{"dial_timeout 0s", "must be positive"}},
		{name: "JSON dial_timeout negative", config: bcJSONH(bcJSONBackends + `, "dial_timeout": "-2s"`), want: []string{"dial_timeout -2s", "must be positive"}},
		{name: "JSON fail_on_silent_close negative", config: bcJSONH(bcJSONBackends + `, "fail_on_silent_close": "-1s", "health_checks": {"passive": {"fail_duration": "5s"}}`), want: []string{"fail_on_silent_close -1s", "must be positive"}},
		{name: "JSON max_fails negative", config: bcJSONH(bcJSONBackends + `, "health_checks": {"passive": {"fail_duration": "5s", "max_fails": -1}}`), want: []string{"max_fails -1", "health_checks.passive.max_fails"}},
		{name: "JSON health port negative", config: bcJSONH(bcJSONBackends + `, "health_checks": {"active": {"port": -1}}`), want: []string{"health_port -1", "health_checks.active.port"}},
		{name: "JSON max_silent_closes negative", config: bcJSONH(bcJSONBackends + `, "fail_on_silent_close": "1s", "max_silent_closes": -1, "health_checks": {"passive": {"fail_duration": "5s"}}`), want: []string{"max_silent_closes -1", "1 or more"}},
	}
}

// bcGoodConfig is a config Caddy must accept.
type bcGoodConfig struct {
	name, config, adapter string
}

func bcGoodConfigs() []bcGoodConfig {
	return []bcGoodConfig{
		{"unicode sites caddyfile", bcCaddyfile(bcLines("site 東京", "link 東京 大阪 3", "link 大阪 café"), bcLines("name データ", "backend 東京 127.0.0.1:9001", "backend 大阪 127.0.0.1:9002", "backend café 127.0.0.1:9003", "link_cost 東京 大阪 9999")), "caddyfile"},
		{"unicode sites json", bcJSON(`{"site": "東京", "links": [{"between": ["東京", "大阪"], "cost": 3}]}`,
			`{"handler": "costlb", "name": "データ", "backends": [{"site": "大阪", "dial": ["127.0.0.1:9001"]}]}`), "json"},
		{"bounds caddyfile", bcCaddyfile(bcLines("site "+strings.Repeat("a", 128), "link "+strings.Repeat("a", 128)+" b 2147483647", "link b c 1"), bcLines("backend c 127.0.0.1:9001", "link_cost b c 2147483647")), "caddyfile"},
		{"island unused", bcCaddyfileH("backend north 127.0.0.1:9001 [::1]:9001 localhost:9002"), "caddyfile"},
		{"every proxy option", bcCaddyfileH(bcLines(bcBackend+" {", "max_connections 10", "tls", "tls_server_name db", "}", "health_interval 1h", "health_port 9000", "health_timeout 1s", "health_fall 2", "health_rise 2", "close_if_unhealthy", "fail_duration 10s", "max_fails 3", "unhealthy_connection_count 100", "lb_try_duration 1s", "lb_try_interval 100ms", "proxy_protocol v2")), "caddyfile"},
		{"zero durations that turn an option off", bcCaddyfileH(bcLines(bcBackend, "fail_duration 0", "lb_try_duration 0s")), "caddyfile"},
		{"one site, no links, local backends", bcCaddyfile("site solo", "backend solo 127.0.0.1:9001"), "caddyfile"},
		{"costs written as in JSON", bcCaddyfile(bcLines("site east", "link east west 5e0", "link west north 5.0", "link north south 50e-1"),
			bcLines(bcBackend, "backend south 127.0.0.1:9002", "link_cost east west 1e3")), "caddyfile"},
		{"longest service name", bcJSONH(`"name": "` + strings.Repeat("n", 128) + `", ` + bcJSONBackends), "json"},
	}
}
