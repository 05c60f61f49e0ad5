package l4handler

import (
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/costlb/costlb/linkgraph"
)

// fuzzDispensers tokenizes input the way Caddy does (minus environment
// variable expansion) and returns dispensers for it as given and wrapped in
// "costlb {" ... "}", so that mutations of a block body reach the option
// parsers. Input the lexer refuses yields none: it never reaches costlb.
func fuzzDispensers(input string) []*caddyfile.Dispenser {
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

// caddyfileSeeds are valid and invalid inputs for both fuzz targets.
var caddyfileSeeds = []string{
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

func FuzzUnmarshalHandler(f *testing.F) {
	for _, s := range caddyfileSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		for _, d := range fuzzDispensers(input) {
			h := new(Handler)
			if err := h.UnmarshalCaddyfile(d); err != nil {
				if err.Error() == "" {
					t.Fatal("empty error message")
				}
				continue
			}
			for i, b := range h.Backends {
				if len(b.Dial) != 1 {
					t.Fatalf("backend %d has %d dial addresses %q, want exactly 1", i, len(b.Dial), b.Dial)
				}
				// An empty site ("") is let through to provisioning,
				// which refuses it as an unknown site; anything else
				// that looks like a block brace must not be a site.
				if b.Site == "{" {
					t.Fatalf("backend %d has site %q", i, b.Site)
				}
			}
			for _, l := range h.LinkCosts {
				if l.Cost < 1 || l.Cost > linkgraph.MaxCost {
					t.Fatalf("link_cost %v accepted with cost out of range (a link_cost needs an explicit cost)", l)
				}
			}
			if lb := h.LoadBalancing; lb != nil && (lb.SelectionPolicyRaw != nil || lb.SelectionPolicy != nil) {
				t.Fatalf("a selection policy got through: %+v", lb)
			}
		}
	})
}
