// Package moduletest holds what the tests of the costlb module packages
// share: running a config in the test process, validating one, and
// checking error messages. Only tests import it.
package moduletest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

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
// service named name, which must be of type S.
func Load[S module.Service](t testing.TB, cfg, name string) S {
	t.Helper()
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
