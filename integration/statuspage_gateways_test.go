package integration

import (
	"fmt"
	"strings"
	"testing"

	"github.com/costlb/costlb/integration/browser"
	"github.com/costlb/costlb/integration/harness"
)

// TestStatusPageGateways: the status page shows a gateway's path cost as
// cost to its site + onward cost, the routes through it with their costs
// and the sites learned beyond it (C, which A's config does not know, in
// the rows and in the network),
// and a gateway's not-ready reason in plain text.
func TestStatusPageGateways(t *testing.T) {
	bin := browser.Require(t)
	c1 := harness.StartBackend(t, "c1")
	listenA, listenB, listenD := harness.FreeAddr(t), harness.FreeAddr(t), harness.FreeAddr(t)
	statusA, statusB, statusD := harness.FreeAddr(t), harness.FreeAddr(t), harness.FreeAddr(t)
	checks := `
		health_interval 200ms
		health_timeout 150ms`
	harness.StartCaddy(t, siteCaddyfile(`site B
		link A B 1
		link B C 4`, listenB, "name web\nbackend C "+c1.Addr()+checks, statusB), "caddyfile")
	// D's only backend listens nowhere: D answers 503
	harness.StartCaddy(t, siteCaddyfile(`site D
		link A D 2`, listenD, "name web\nbackend D "+harness.FreeAddr(t)+checks, statusD), "caddyfile")
	harness.StartCaddy(t, siteCaddyfile(`site A
		link A B 1
		link A D 2`, listenA, "name web\n"+gatewayBackend("B", listenB, statusB, "web")+"\n"+
		gatewayBackend("D", listenD, statusD, "web")+checks, statusA), "caddyfile")

	b := browser.Start(t, bin, 1280, 800)
	if err := b.Navigate("http://"+statusA+"/", pageTimeout); err != nil {
		t.Fatal(err)
	}
	waitPage(t, b, pageTimeout, "the gateways' costs, routes and reasons", func(s domState) string {
		if s.Injected != 0 {
			return fmt.Sprintf("%d elements made from the JSON's markup", s.Injected)
		}
		svc, ok := s.service("web")
		if !ok {
			return "no card for service web"
		}
		if !strings.Contains(svc.Text, "Routes offered to peers: A → B → C (cost 5)") {
			return fmt.Sprintf("web card %q lacks A's own route with its cost", svc.Text)
		}
		gb, ok := svc.backend(listenB)
		if !ok {
			return "no row for gateway B"
		}
		if gb.Attrs["path-cost"] != "5" || gb.Attrs["onward-cost"] != "4" || gb.Attrs["perceived"] != "5" {
			return fmt.Sprintf("gateway B row %v, want path cost 5, onward 4, perceived 5", gb.Attrs)
		}
		for _, w := range []string{"5 = 1 + 4 onward", "Via: A → B → C (cost 5)", "sites learned beyond B: C"} {
			if !strings.Contains(gb.Text, w) {
				return fmt.Sprintf("gateway B row %q lacks %q", gb.Text, w)
			}
		}
		gd, ok := svc.backend(listenD)
		if !ok {
			return "no row for gateway D"
		}
		if gd.Attrs["ready"] != "false" || !strings.Contains(gd.Text, "Not ready: answered 503 Service Unavailable") {
			return fmt.Sprintf("gateway D row %v %q, want not ready with the reason in plain text", gd.Attrs, gd.Text)
		}
		// C, which only B's routes tell of, is drawn in the network
		if len(s.Learned) != 1 || s.Learned[0].Attrs["learned-site"] != "C" || s.Learned[0].Attrs["path-cost"] != "5" {
			return fmt.Sprintf("sites drawn from the gateways' routes: %v, want C at cost 5", s.Learned)
		}
		if _, ok := s.site("C"); ok || len(s.Sites) != 3 {
			return fmt.Sprintf("%d configured sites drawn (C among them: %v), want A, B and D", len(s.Sites), ok)
		}
		return ""
	})
}
