package integration

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/costlb/costlb/integration/harness"
)

// TestCapacityBadConfigValidate: caddy validate refuses a weight outside 1
// to 1000 or not a number, and a slow_start that is not a positive
// duration, naming the value, where it is and what is allowed.
func TestCapacityBadConfigValidate(t *testing.T) {
	const rule = "a weight is a whole number from 1 to 1000"
	weighted := func(w string) string {
		return bcCaddyfileH(bcLines("backend east 127.0.0.1:9001 {", "weight "+w, "}"))
	}
	for _, set := range []struct {
		adapter, file string
		cases         []badConfig
	}{
		{"caddyfile", "Caddyfile", []badConfig{
			{"weight 0", weighted("0"), []string{`weight "0" is too small`, rule, `(JSON: "weight")`}},
			{"weight 1001", weighted("1001"), []string{`weight "1001" is too large`, rule}},
			{"weight x", weighted("x"), []string{`weight "x" is not a number`, rule}},
			{"slow_start negative", bcCaddyfileH(bcLines("backend east 127.0.0.1:9001", "slow_start -1s")), []string{`slow_start "-1s"`, "positive duration"}},
			{"http weight 0", bcHTTPPolicy("weight 127.0.0.1:9001 0"), []string{`upstream 127.0.0.1:9001: weight "0" is too small`, rule}},
			{"http weight not an upstream", bcHTTPPolicy("weight 127.0.0.1:9999 2"), []string{`"127.0.0.1:9999"`, bcHTTPNotUpstream}},
		}},
		{"json", "caddy.json", []badConfig{
			{"weight 0", bcJSONH(`"backends": [{"site": "east", "dial": ["127.0.0.1:9001"], "weight": 0}]`), []string{"weight 0 is too small", rule, "backends[0].weight"}},
			{"weight 1001", bcJSONH(`"backends": [{"site": "east", "dial": ["127.0.0.1:9001"], "weight": 1001}]`), []string{"weight 1001 is too large", "backends[0].weight"}},
			{"weight x", bcJSONH(`"backends": [{"site": "east", "dial": ["127.0.0.1:9001"], "weight": "x"}]`), []string{`weight "x" is not a number`, "backends[0].weight"}},
			{"http weight 1001", bcHTTPJSON(bcJSONNet, `"weights": [{"upstream": "127.0.0.1:9002", "weight": 1001}]`), []string{"weight 1001 is too large", "weights[0].weight"}},
			{"http weight not an upstream", bcHTTPJSON(bcJSONNet, `"weights": [{"upstream": "127.0.0.1:9009", "weight": 2}]`), []string{`"127.0.0.1:9009"`, bcHTTPNotUpstream}},
		}},
	} {
		for _, c := range set.cases {
			t.Run(set.adapter+"/"+c.name, func(t *testing.T) {
				t.Parallel()
				dir := t.TempDir()
				file := filepath.Join(dir, set.file)
				if err := os.WriteFile(file, []byte(bcForValidate(c.config)), 0o644); err != nil {
					t.Fatal(err)
				}
				args := []string{"validate", "--config", file}
				if set.adapter == "caddyfile" {
					args = append(args, "--adapter", "caddyfile")
				}
				stdout, stderr, code := harness.RunCaddy(t, dir, args...)
				raw := stdout + stderr
				bcCheckRefusal(t, c, code == 0, raw, bcReadable(raw))
			})
		}
	}
}
