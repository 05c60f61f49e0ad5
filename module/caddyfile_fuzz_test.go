package module

import (
	"reflect"
	"strconv"
	"strings"
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

func FuzzUnmarshalApp(f *testing.F) {
	for _, s := range caddyfileSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		for _, d := range fuzzDispensers(input) {
			g := new(App)
			if err := g.UnmarshalCaddyfile(d); err != nil {
				if err.Error() == "" {
					t.Fatal("empty error message")
				}
				continue
			}
			if g.Site == "" {
				t.Fatalf("accepted without a site: %+v", g)
			}
			for _, l := range g.Links {
				if l.Cost < 0 || l.Cost > linkgraph.MaxCost {
					t.Fatalf("accepted link %v with cost out of range", l)
				}
			}
			checkGlobalRoundTrip(t, g)
		}
	})
}

// checkGlobalRoundTrip writes g back as a Caddyfile and parses it again:
// the result must be the same network.
func checkGlobalRoundTrip(t *testing.T, g *App) {
	t.Helper()
	names := []string{g.Site}
	for _, l := range g.Links {
		names = append(names, l.Between[0], l.Between[1])
	}
	for _, n := range names {
		// A backquoted token keeps every byte except a backquote; an empty
		// token cannot be a name (the parser refuses an empty site).
		if n == "" || strings.ContainsRune(n, '`') {
			return
		}
	}
	var b strings.Builder
	b.WriteString("costlb {\n\tsite `" + g.Site + "`\n")
	for _, l := range g.Links {
		b.WriteString("\tlink `" + l.Between[0] + "` `" + l.Between[1] + "`")
		if l.Cost != 0 {
			b.WriteString(" " + strconv.FormatInt(l.Cost, 10))
		}
		b.WriteString("\n")
	}
	b.WriteString("}\n")
	toks, err := caddyfile.Tokenize([]byte(b.String()), "Roundtrip")
	if err != nil {
		t.Fatalf("re-tokenizing %q: %v", b.String(), err)
	}
	g2 := new(App)
	if err := g2.UnmarshalCaddyfile(caddyfile.NewDispenser(toks)); err != nil {
		t.Fatalf("re-parsing %q: %v", b.String(), err)
	}
	if g2.Site != g.Site || !reflect.DeepEqual(g2.Links, g.Links) {
		t.Fatalf("round trip changed the network:\n%+v\n%+v\nvia %q", g, g2, b.String())
	}
}
