// Package moduletest holds what the tests of the costlb module packages
// share: running a config in the test process, validating one, and
// checking error messages. Only tests import it.
package moduletest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/costlb/costlb/linkgraph"
	"github.com/costlb/costlb/module"
)

// CostRule is how every cost error says what is allowed.
const CostRule = "must be an integer from 1 to 2147483647"

// CheckErr fails t unless err is non-nil and contains every substring of
// want.
func CheckErr(t *testing.T, input string, err error, want []string) {
	t.Helper()
	if err == nil {
		t.Fatalf("accepted, want an error containing %q\ninput:\n%s", want, input)
	}
	for _, w := range want {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q\n does not contain %q\ninput:\n%s", err, w, input)
		}
	}
}

// Link returns the link between a and b with cost.
func Link(a, b string, cost int64) linkgraph.Link {
	return linkgraph.Link{Between: [2]string{a, b}, Cost: cost}
}

// Load runs cfg in this process until the test ends and returns its
// service named name, which must be of type S. A config that does not set
// "admin" runs with the admin endpoint off: Caddy's default,
// localhost:2019, is the quickstart example's, which the README tests
// bind while other packages' tests run.
func Load[S module.Service](t testing.TB, cfg, name string) S {
	t.Helper()
	var top map[string]json.RawMessage
	if err := json.Unmarshal([]byte(cfg), &top); err != nil {
		t.Fatalf("config: %v\n%s", err, cfg)
	}
	if _, ok := top["admin"]; !ok {
		top["admin"] = json.RawMessage(`{"disabled": true}`)
		b, err := json.Marshal(top)
		if err != nil {
			t.Fatal(err)
		}
		cfg = string(b)
	}
	if err := caddy.Load([]byte(cfg), true); err != nil {
		t.Fatalf("load: %v\n%s", err, cfg)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	app := module.RunningApp()
	if app == nil {
		t.Fatal("costlb app not running")
	}
	s, ok := app.Service(name).(S)
	if !ok {
		t.Fatalf("no service %q of type %T", name, s)
	}
	return s
}

// Validate decodes cfgJSON as Caddy does and validates it: it loads and
// provisions every app and module of the config (as `caddy validate` and
// the first half of POST /load do) but starts nothing.
func Validate(cfgJSON string) error {
	var cfg *caddy.Config
	if err := caddy.StrictUnmarshalJSON([]byte(cfgJSON), &cfg); err != nil {
		return fmt.Errorf("decoding config: %w", err)
	}
	return caddy.Validate(cfg)
}

// Net is the costlb app most tests use: east is local, west and north are
// reachable, x and y form an island.
const Net = `{"site": "east", "links": [
	{"between": ["east", "west"], "cost": 5},
	{"between": ["west", "north"]},
	{"between": ["x", "y"]}]}`

// FuzzDispensers tokenizes input the way Caddy does (minus environment
// variable expansion) and returns dispensers for it as given and wrapped in
// "costlb {" ... "}", so that mutations of a block body reach the option
// parsers. Input the lexer refuses yields none: it never reaches costlb.
func FuzzDispensers(input string) []*caddyfile.Dispenser {
	if len(input) > 1<<12 { // keep each exec fast; options are short
		return nil
	}
	var out []*caddyfile.Dispenser
	for _, in := range []string{input, "costlb {\n" + input + "\n}"} {
		toks, err := caddyfile.Tokenize([]byte(in), "Fuzzfile")
		if err != nil {
			continue
		}
		out = append(out, caddyfile.NewDispenser(toks))
	}
	return out
}

// CaddyfileSeeds are valid and invalid inputs for the Caddyfile fuzz
// targets of the app and the layer4 handler.
var CaddyfileSeeds = []string{
	"costlb {\n\tsite east\n\tlink east west 5\n\tlink west north\n}",
	"costlb {\n\tname orders-db\n\tbackend east 10.0.0.1:5432 10.0.0.2:5432\n\tbackend west 10.1.0.1:5432 {\n\t\tmax_connections 100\n\t\ttls\n\t}\n\tlink_cost east west 9999\n\thealth_interval 2s\n\thealth_timeout 1s\n\tfail_duration 10s\n\tlb_try_duration 3s\n\tproxy_protocol v2\n}",
	"site east\nlink east west 2147483647\nlink west 東京",
	"backend east 10.0.0.1:1 {\n\tdial 10.0.0.2:1\n\ttls_server_name x\n}\nname a",
	"site east {\n\tzone a\n}",
	"link east west 1e3",
	"backend\nbackend east\nbackend {\n}",
	"lb_policy round_robin",
	"proxy_protocol\nhealth_interval",
	"costlb east {\n}",
	"costlb {}",
	"{\n}\n}",
	"site \"\"\nlink \"\" \"\" \"\"",
	"backend \"{\" \"}\"\nname `{`",
	"health_port 9000 {\n\tx\n}\nmax_fails 1 2",
}
