package integration

// link <a> <b> auto on loopback: the round trip to a backend on this host
// is far below a millisecond, so the first measurement takes the link from
// its unmeasured cost, 9998, to 1, and the path costs, the pick, the
// routes, the admin view and the metrics follow without a reload; a
// reload keeps the measured cost.

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// autoLinkView is a link of GET /costlb/ with the fields of auto links.
type autoLinkView struct {
	Between [2]string `json:"between"`
	Cost    int64     `json:"cost"`
	Auto    bool      `json:"auto"`
	RTTMs   *float64  `json:"rtt_ms"`
}

// fetchLinks reads the links of GET /costlb/.
func fetchLinks(t *testing.T, c *harness.Caddy) []autoLinkView {
	t.Helper()
	status, body, err := c.Get("/costlb/")
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET /costlb/: %d %v: %s", status, err, body)
	}
	var v struct {
		Links []autoLinkView `json:"links"`
	}
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	return v.Links
}

func linkOf(links []autoLinkView, a, b string) *autoLinkView {
	for i, l := range links {
		if l.Between == [2]string{a, b} || l.Between == [2]string{b, a} {
			return &links[i]
		}
	}
	return nil
}

func TestAutoLinkLoopback(t *testing.T) {
	west := harness.StartBackend(t, "west")
	north := harness.StartBackend(t, "north")
	listen := harness.FreeAddr(t)
	config := func(name string) string {
		return fmt.Sprintf(`{
	admin {ADMIN}
	costlb {
		site east
		link east west auto
		link east north 50
	}
	layer4 {
		%s {
			route {
				costlb {
					name %s
					backend west %s
					backend north %s
					health_interval 200ms
				}
			}
		}
	}
}
`, listen, name, west.Addr(), north.Addr())
	}
	c := harness.StartCaddy(t, config("auto"), "caddyfile")

	// the probe measures west within about a second of the start: the
	// cost goes from 9998 to 1, logged once
	harness.WaitFor(t, 10*time.Second, func() bool {
		l := linkOf(fetchLinks(t, c), "east", "west")
		return l != nil && l.Cost == 1
	}, "the auto link east–west to be measured at cost 1")
	if err := c.WaitLog(`"msg":"costlb link cost changed"`, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	logs := c.Logs()
	if !strings.Contains(logs, `"old_cost":9998,"new_cost":1`) {
		t.Errorf("the change is not logged from 9998 to 1:\n%s", grepLines(logs, "link cost changed"))
	}
	l := linkOf(fetchLinks(t, c), "east", "west")
	if !l.Auto || l.RTTMs == nil || *l.RTTMs <= 0 || *l.RTTMs > 5 {
		t.Fatalf("link east–west in /costlb/: %+v, want auto with a round trip of 0 to 5 ms", l)
	}
	if s := linkOf(fetchLinks(t, c), "east", "north"); s == nil || s.Auto || s.RTTMs != nil || s.Cost != 50 {
		t.Fatalf("static link east–north in /costlb/: %+v", s)
	}

	// path costs follow: west at 1, north at 50; the pick goes to west
	v := mustView(t, c)
	svc := mustService(t, v, "auto")
	if b := mustBackend(t, svc, west.Addr()); b.PathCost != 1 || b.SiteCost != 1 {
		t.Fatalf("west backend: path cost %d, site cost %d; want 1", b.PathCost, b.SiteCost)
	}
	for _, s := range v.Sites {
		if s.Name == "west" && s.PathCost != 1 {
			t.Fatalf("site west: path cost %d, want 1", s.PathCost)
		}
	}
	if len(svc.Routes) == 0 || svc.Routes[0].Cost == nil || *svc.Routes[0].Cost != 1 || strings.Join(svc.Routes[0].Sites, ",") != "east,west" {
		t.Fatalf("routes offered onward %+v, want the cheapest east→west at cost 1", svc.Routes)
	}
	for i := 0; i < 3; i++ {
		name, conn := greetLine(t, listen)
		_ = conn.Close()
		if name != "west" {
			t.Fatalf("connection %d went to %q, want west (path cost 1 against 50)", i, name)
		}
	}

	m := metricValues(t, c, "caddy_costlb_link_")
	if got := m[`caddy_costlb_link_cost{a="east",b="west"}`]; got != 1 {
		t.Errorf("caddy_costlb_link_cost east–west = %v, want 1 (%v)", got, m)
	}
	if got := m[`caddy_costlb_link_cost{a="east",b="north"}`]; got != 50 {
		t.Errorf("caddy_costlb_link_cost east–north = %v, want 50", got)
	}
	if rtt, ok := m[`caddy_costlb_link_rtt_seconds{a="east",b="west"}`]; !ok || rtt <= 0 || rtt > 0.005 {
		t.Errorf("caddy_costlb_link_rtt_seconds east–west = %v, %v; want 0 to 5 ms", rtt, ok)
	}

	// a reload keeps the measured cost: the new config counts 1 at once,
	// not 9998, and logs no change
	if status, body, err := c.Load([]byte(config("auto2")), "text/caddyfile"); err != nil || status != http.StatusOK {
		t.Fatalf("reload: %d %v: %s", status, err, body)
	}
	if l := linkOf(fetchLinks(t, c), "east", "west"); l == nil || l.Cost != 1 || l.RTTMs == nil {
		t.Fatalf("after the reload, east–west is %+v, want the measured cost 1", l)
	}
	v = mustView(t, c)
	if b := mustBackend(t, mustService(t, v, "auto2"), west.Addr()); b.PathCost != 1 {
		t.Fatalf("after the reload, the west backend's path cost is %d, want 1", b.PathCost)
	}
	if name, conn := greetLine(t, listen); name != "west" {
		_ = conn.Close()
		t.Fatalf("after the reload a connection went to %q, want west", name)
	} else {
		_ = conn.Close()
	}
	if n := strings.Count(c.Logs(), `"msg":"costlb link cost changed"`); n != 1 {
		t.Errorf("%d cost changes logged, want 1 (the first measurement):\n%s", n, grepLines(c.Logs(), "link cost changed"))
	}

	// auto on a link without the local site is refused, and the running
	// config keeps serving
	bad := strings.Replace(config("auto3"), "link east north 50", "link east north 50\n\t\tlink north south auto", 1)
	status, body, err := c.Load([]byte(bad), "text/caddyfile")
	if err != nil || status == http.StatusOK {
		t.Fatalf("auto on the link north–south was accepted: %d %v", status, err)
	}
	for _, want := range []string{"apps.costlb.links[2]", `local site \"east\" at one end`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("refusal %s does not say %s", body, want)
		}
	}
	if l := linkOf(fetchLinks(t, c), "east", "west"); l == nil || l.Cost != 1 {
		t.Fatalf("after a refused reload, east–west is %+v", l)
	}
}

// grepLines returns the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestAutoLinkCostTravelsOnward: site B measures its auto link to C, and
// the measured cost reaches A in B's readiness answer: A's route through
// B and C costs A–B (2) plus B's measured B–C (1), not 2 + 9998.
func TestAutoLinkCostTravelsOnward(t *testing.T) {
	c1 := harness.StartBackend(t, "c1")
	listenA, listenB, listenC := harness.FreeAddr(t), harness.FreeAddr(t), harness.FreeAddr(t)
	statusB, statusC := harness.FreeAddr(t), harness.FreeAddr(t)
	harness.StartCaddy(t, siteCaddyfile(`site C
		link B C 3`, listenC, fmt.Sprintf(`
		name web
		backend C %s
		health_interval 200ms
		health_timeout 150ms`, c1.Addr()), statusC), "caddyfile")
	b := harness.StartCaddy(t, siteCaddyfile(`site B
		link A B 2
		link B C auto`, listenB, `
		name web
		`+gatewayBackend("C", listenC, statusC, "web")+`
		health_interval 200ms
		health_timeout 150ms`, statusB), "caddyfile")
	a := harness.StartCaddy(t, siteCaddyfile(`site A
		link A B 2`, listenA, `
		name web
		`+gatewayBackend("B", listenB, statusB, "web")+`
		health_interval 200ms
		health_timeout 150ms`, ""), "caddyfile")

	// B's answer offers B→C at the measured cost
	harness.WaitFor(t, 10*time.Second, func() bool {
		_, doc, err := getReady(statusB, "web")
		return err == nil && len(doc.Routes) == 1 && doc.Routes[0].Cost != nil && *doc.Routes[0].Cost == 1
	}, "B to offer B→C at the measured cost 1")
	if l := linkOf(fetchLinks(t, b), "B", "C"); l == nil || !l.Auto || l.Cost != 1 || l.RTTMs == nil {
		t.Fatalf("B's link B–C: %+v, want auto, measured at cost 1", l)
	}
	// A learns it: its gateway B costs 2 + 1, and so does its route
	harness.WaitFor(t, 10*time.Second, func() bool {
		v, _, err := fetchView(a)
		if err != nil {
			return false
		}
		s := v.service("web")
		if s == nil || len(s.Routes) == 0 || s.Routes[0].Cost == nil {
			return false
		}
		g := s.backend(listenB)
		return g != nil && g.PathCost == 3 && *s.Routes[0].Cost == 3
	}, "A's gateway B and its route A→B→C to cost 2 + 1")
	if name, conn := greetLine(t, listenA); name != "c1" {
		_ = conn.Close()
		t.Fatalf("a connection through A reached %q, want c1", name)
	} else {
		_ = conn.Close()
	}
}
