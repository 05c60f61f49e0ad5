package module_test

import (
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/costlb/costlb/linkgraph"
	"github.com/costlb/costlb/module"
	"github.com/costlb/costlb/module/internal/moduletest"
)

func FuzzUnmarshalApp(f *testing.F) {
	for _, s := range moduletest.CaddyfileSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		for _, d := range moduletest.FuzzDispensers(input) {
			g := new(module.App)
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
func checkGlobalRoundTrip(t *testing.T, g *module.App) {
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
	g2 := new(module.App)
	if err := g2.UnmarshalCaddyfile(caddyfile.NewDispenser(toks)); err != nil {
		t.Fatalf("re-parsing %q: %v", b.String(), err)
	}
	if g2.Site != g.Site || !reflect.DeepEqual(g2.Links, g.Links) {
		t.Fatalf("round trip changed the network:\n%+v\n%+v\nvia %q", g, g2, b.String())
	}
}
