package integration

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/costlb/costlb/integration/harness"
)

// bcBelowOne is a JSON cost literal that is not a whole number but that
// float64 rounds to 1.
const bcBelowOne = "0.99999999999999999"

// TestCostLiteralValidateAndLoad: a JSON cost is read from its literal, so
// caddy validate refuses 0.99999999999999999 in the costlb app's links,
// which float64 takes for 1. What Caddy decodes into float64 numbers before
// costlb sees it arrives as float64 has it, as the README says: Caddy
// re-encodes the JSON of every module named inline (a handler's
// "handler", a selection policy's "policy"), so a link_costs literal
// arrives as 1 even in caddy validate, and POST /load re-encodes the whole
// config, as GET /config/ shows. A literal that float64 keeps fractional is
// refused on every path (the "next float64 above 1" and "link_cost cost
// fraction" bad configs).
func TestCostLiteralValidateAndLoad(t *testing.T) {
	cost := `"cost": ` + bcBelowOne
	cases := []struct {
		name, config string
		literalSeen  bool // caddy validate hands costlb the literal as written
	}{
		{"app links", bcJSONApp(`{"site": "east", "links": [{"between": ["east", "west"], ` + cost + `}]}`), true},
		{"layer4 link_costs", bcJSONH(bcJSONBackends + `, "link_costs": [{"between": ["east", "west"], ` + cost + `}]`), false},
		{"HTTP link_costs", bcHTTPJSON(bcJSONNet, `"link_costs": [{"between": ["east", "west"], `+cost+`}]`), false},
	}
	listen := harness.FreeAddr(t)
	c := harness.StartCaddy(t, strings.ReplaceAll(bcCaddyfile(bcNet, bcBackend), bcListen, listen), "caddyfile")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			file := filepath.Join(dir, "caddy.json")
			if err := os.WriteFile(file, []byte(bcForValidate(tc.config)), 0o644); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, code := harness.RunCaddy(t, dir, "validate", "--config", file)
			raw := stdout + stderr
			if tc.literalSeen {
				bcCheckRefusal(t, badConfig{tc.name, tc.config, []string{"cost " + bcBelowOne, bcCostRule}}, code == 0, raw, bcReadable(raw))
			} else if code != 0 {
				t.Fatalf("caddy validate refused (exit %d), but Caddy re-encodes a handler's JSON before costlb sees it:\n%s", code, bcReadable(raw))
			}

			status, body, err := c.Load([]byte(strings.ReplaceAll(tc.config, bcListen, listen)), "application/json")
			if err != nil || status != http.StatusOK {
				t.Fatalf("POST /load: %d %v %s; want it loaded, the literal read as Caddy re-encoded it", status, err, body)
			}
			status, cfg, err := c.Get("/config/")
			if err != nil || status != http.StatusOK {
				t.Fatalf("GET /config/: %d %v", status, err)
			}
			if bytes.Contains(cfg, []byte(bcBelowOne)) || !bytes.Contains(cfg, []byte(`"between":["east","west"],"cost":1}`)) {
				t.Fatalf("GET /config/ after POST /load:\n%s\nwant the cost as 1: Caddy re-encodes the numbers of what it loads", cfg)
			}
		})
	}
}
