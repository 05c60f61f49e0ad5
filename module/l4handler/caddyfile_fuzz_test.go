package l4handler

import (
	"testing"

	"github.com/costlb/costlb/linkgraph"
	"github.com/costlb/costlb/module/internal/moduletest"
)

func FuzzUnmarshalHandler(f *testing.F) {
	for _, s := range moduletest.CaddyfileSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, input string) {
		for _, d := range moduletest.FuzzDispensers(input) {
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
