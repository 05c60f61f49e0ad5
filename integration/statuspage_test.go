package integration

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/browser"
	"github.com/costlb/costlb/integration/harness"
)

// pageTimeout bounds each wait for the status page to show something; it
// refreshes every second, so this leaves room for a loaded machine.
const pageTimeout = 15 * time.Second

// evilService is a service name made of markup: the page must show it as
// text and never build elements from it.
const evilService = `<img src=x onerror="document.title='pwned'">&amp;`

// labSite is a site without backends whose name is markup too.
const labSite = `lab<i>&amp;`

// statusPageConfig: east (local), west 5 away, dr 15 away through west
// (the direct east-dr link costs 9999 and is on no cheapest path), the lab
// site 1 beyond dr with no backends; service orders over east, west and dr
// on ordersAddr, the markup-named service on evilAddr, and costlb_status
// mounted under /lb/ on statusAddr.
func statusPageConfig(ordersAddr, evilAddr, statusAddr string, east, west, dr, west2 string) string {
	_, statusPort, _ := net.SplitHostPort(statusAddr)
	return fmt.Sprintf(`{
	admin {ADMIN}
	costlb {
		site east
		link east west 5
		link west dr 10
		link east dr 9999
		link dr %q 1
	}
	layer4 {
		%s {
			route {
				costlb {
					name orders
					backend east %s
					backend west %s
					backend dr %s
					health_interval 100ms
					health_timeout 200ms
					lb_try_duration 2s
					lb_try_interval 50ms
				}
			}
		}
		%s {
			route {
				costlb {
					name %q
					backend west %s
				}
			}
		}
	}
}

http://:%s {
	bind 127.0.0.1
	handle_path /lb/* {
		costlb_status
	}
}
`, labSite, ordersAddr, east, west, dr, evilAddr, evilService, west2, statusPort)
}

// TestStatusPage renders the costlb_status page of a real Caddy in headless
// Chromium and follows it through held connections, closed connections, a
// failover, a failback and a Caddy restart.
func TestStatusPage(t *testing.T) {
	bin := browser.Require(t)
	east := harness.StartBackend(t, "east")
	west := harness.StartBackend(t, "west")
	dr := harness.StartBackend(t, "dr")
	west2 := harness.StartBackend(t, "west2")
	ordersAddr, evilAddr, statusAddr := harness.FreeAddr(t), harness.FreeAddr(t), harness.FreeAddr(t)
	cfg := statusPageConfig(ordersAddr, evilAddr, statusAddr, east.Addr(), west.Addr(), dr.Addr(), west2.Addr())
	c := harness.StartCaddy(t, cfg, "caddyfile")
	waitHealthy(t, c, "orders")

	// eight held connections: the rules put 7 on east (0..6) and 1 on west (5)
	got := map[string]int{}
	var eastConns []net.Conn
	for i := 0; i < 8; i++ {
		name, conn, err := harness.Hold(ordersAddr, dialTimeout)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		t.Cleanup(func() { conn.Close() })
		got[name]++
		if name == "east" {
			eastConns = append(eastConns, conn)
		}
	}
	want := expectHeld([]ruleBackend{{"east", 0}, {"west", 5}, {"dr", 15}}, nil, 8)
	if !sameCounts(got, want) {
		t.Fatalf("8 held connections reached %v, want %v", got, want)
	}

	b := browser.Start(t, bin, 1280, 800)
	if err := b.Navigate("http://"+statusAddr+"/lb/", pageTimeout); err != nil {
		t.Fatal(err)
	}
	waitPage(t, b, pageTimeout, "the network, its costs and the held connections", func(s domState) string {
		if s.Conn.Attrs["state"] != "live" || !strings.Contains(s.Conn.Text, "live") {
			return fmt.Sprintf("connection state %v %q, want live", s.Conn.Attrs, s.Conn.Text)
		}
		if s.Local != "east" {
			return fmt.Sprintf("local site shown as %q", s.Local)
		}
		if n, _ := s.site("east"); n.Attrs["local"] != "true" || !strings.Contains(n.Text, "local") {
			return fmt.Sprintf("east not marked local: %v %q", n.Attrs, n.Text)
		}
		if len(s.Sites) != 4 || len(s.Links) != 4 {
			return fmt.Sprintf("%d sites and %d links drawn, want 4 and 4", len(s.Sites), len(s.Links))
		}
		for _, x := range []struct {
			name string
			cost int64
			live int
		}{{"east", 0, want["east"]}, {"west", 5, want["west"]}, {"dr", 15, 0}, {labSite, 16, -1}} {
			if why := siteShows(s, x.name, x.cost, x.live); why != "" {
				return why
			}
		}
		if n, _ := s.site(labSite); n.Attrs["live"] != "0" || strings.Contains(n.Text, "live") || n.Attrs["path"] != "east west dr "+labSite {
			return fmt.Sprintf("site without backends: %v %q, want no live count and its path through dr", n.Attrs, n.Text)
		}
		for _, l := range []struct {
			a, b     string
			cost     int
			cheapest bool
		}{{"east", "west", 5, true}, {"west", "dr", 10, true}, {"east", "dr", 9999, false}, {"dr", labSite, 1, true}} {
			e, ok := s.link(l.a, l.b)
			if !ok || e.Attrs["cost"] != fmt.Sprint(l.cost) || e.Text != fmt.Sprint(l.cost) || e.Attrs["cheapest"] != fmt.Sprint(l.cheapest) {
				return fmt.Sprintf("link %s-%s: want cost %d shown, cheapest %v; got %v %q", l.a, l.b, l.cost, l.cheapest, e.Attrs, e.Text)
			}
		}
		svc, ok := s.service("orders")
		if !ok {
			return "no card for service orders"
		}
		if svc.Attrs["primary-site"] != "east" || svc.Attrs["ready"] != "true" || !strings.Contains(svc.Text, "ready") || !strings.Contains(svc.Text, "primary site east") {
			return fmt.Sprintf("orders card %v %q, want ready with primary site east", svc.Attrs, svc.Text)
		}
		for _, r := range []string{"peers: east (cost 0);", "; east → west (cost 5);", "; east → dr (cost 15)"} {
			if !strings.Contains(svc.Text+";", r) {
				return fmt.Sprintf("orders routes: %q lacks %q", svc.Text, r)
			}
		}
		for _, x := range []struct {
			addr, site string
			path       int64
			primary    bool
		}{{east.Addr(), "east", 0, true}, {west.Addr(), "west", 5, false}, {dr.Addr(), "dr", 15, false}} {
			if why := backendShows(svc, x.addr, x.site, x.path, want[x.site], true, x.primary); why != "" {
				return why
			}
			if r, _ := svc.backend(x.addr); r.Attrs["total"] != fmt.Sprint(want[x.site]) {
				return fmt.Sprintf("backend %s: total %q, want %d", x.addr, r.Attrs["total"], want[x.site])
			}
		}
		return ""
	})

	// names are text, never markup
	s, err := pageState(b)
	if err != nil {
		t.Fatal(err)
	}
	if evil, ok := s.service(evilService); !ok || !strings.HasPrefix(evil.Text, evilService) {
		t.Errorf("the markup-named service is not shown as its name: %+v", s.Services)
	}
	if s.Injected != 0 || s.Title != "costlb status" {
		t.Errorf("JSON text became markup: %d injected elements, title %q", s.Injected, s.Title)
	}

	// close three of east's connections: the page follows
	for _, conn := range eastConns[:3] {
		conn.Close()
	}
	eastLive := want["east"] - 3
	waitPage(t, b, pageTimeout, "east's live count after 3 connections closed", func(s domState) string {
		svc, _ := s.service("orders")
		if why := siteShows(s, "east", 0, eastLive); why != "" {
			return why
		}
		return backendShows(svc, east.Addr(), "east", 0, eastLive, true, true)
	})

	// failover: east's server goes away; the next connection goes to west
	east.Stop()
	for _, conn := range eastConns[3:] { // their clients see the end and close too
		conn.Close()
	}
	harness.WaitFor(t, 10*time.Second, func() bool {
		return !mustService(t, mustView(t, c), "orders").backend(east.Addr()).Healthy
	}, "health checks mark east down")
	if name, err := harness.Once(ordersAddr, dialTimeout); err != nil || name != "west" {
		t.Fatalf("after east went down a connection reached %q %v, want west", name, err)
	}
	s = waitPage(t, b, pageTimeout, "the failover to west", func(s domState) string {
		svc, _ := s.service("orders")
		if svc.Attrs["primary-site"] != "west" || !strings.Contains(svc.Text, "primary site west") {
			return fmt.Sprintf("primary site %q, want west", svc.Attrs["primary-site"])
		}
		if why := backendShows(svc, west.Addr(), "west", 5, want["west"], true, true); why != "" {
			return why
		}
		if why := backendShows(svc, east.Addr(), "east", 0, 0, false, false); why != "" {
			return why
		}
		if n, _ := s.site("east"); n.Attrs["state"] != "down" || !strings.Contains(n.Text, "down") {
			return fmt.Sprintf("east node %v %q, want down", n.Attrs, n.Text)
		}
		return shiftShown(svc, s, "failover", "east", "west")
	})
	failoverAt := s.Shifts[0].Attrs["time"]

	// failback: east is back; the next connection goes there again
	east.Restart()
	harness.WaitFor(t, 10*time.Second, func() bool {
		return mustService(t, mustView(t, c), "orders").backend(east.Addr()).Healthy
	}, "health checks mark east up again")
	if name, err := harness.Once(ordersAddr, dialTimeout); err != nil || name != "east" {
		t.Fatalf("after east came back a connection reached %q %v, want east", name, err)
	}
	s = waitPage(t, b, pageTimeout, "the failback to east", func(s domState) string {
		svc, _ := s.service("orders")
		if svc.Attrs["primary-site"] != "east" {
			return fmt.Sprintf("primary site %q, want east", svc.Attrs["primary-site"])
		}
		return shiftShown(svc, s, "failback", "west", "east")
	})
	if len(s.Shifts) != 2 || s.Shifts[1].Attrs["shift"] != "failover" || s.Shifts[1].Attrs["time"] != failoverAt {
		t.Errorf("the list of changes should keep the failover below the failback: %+v", s.Shifts)
	}

	// the server restarts: the page says it is disconnected, then carries on
	c.Stop()
	waitPage(t, b, pageTimeout, "disconnected while Caddy is down", func(s domState) string {
		if s.Conn.Attrs["state"] != "disconnected" || !strings.Contains(s.Conn.Text, "disconnected") {
			return fmt.Sprintf("connection state %v %q", s.Conn.Attrs, s.Conn.Text)
		}
		return ""
	})
	harness.StartCaddy(t, cfg, "caddyfile")
	waitPage(t, b, pageTimeout, "live again after Caddy restarted", func(s domState) string {
		if s.Conn.Attrs["state"] != "live" {
			return fmt.Sprintf("connection state %v %q", s.Conn.Attrs, s.Conn.Text)
		}
		svc, _ := s.service("orders")
		if r, _ := svc.backend(east.Addr()); r.Attrs["total"] != "0" {
			return fmt.Sprintf("east's total %q, want 0 from the new process", r.Attrs["total"])
		}
		return siteShows(s, "east", 0, 0)
	})
}

// shiftShown checks that a change of primary site is highlighted on the
// service card (with its time) and listed with the page's changes.
func shiftShown(svc domService, s domState, kind, from, to string) string {
	sh := svc.Shift
	if sh == nil {
		return "no failover or failback notice on the card"
	}
	word := strings.ToUpper(kind[:1]) + kind[1:]
	if sh.Attrs["shift"] != kind || sh.Attrs["from"] != from || sh.Attrs["to"] != to ||
		!strings.Contains(sh.Text, word+" at ") || !strings.Contains(sh.Text, from+" → "+to) {
		return fmt.Sprintf("card notice %v %q, want %s %s → %s", sh.Attrs, sh.Text, kind, from, to)
	}
	at, err := time.Parse(time.RFC3339, sh.Attrs["time"])
	if err != nil || time.Since(at) > time.Minute || time.Since(at) < -time.Minute {
		return fmt.Sprintf("notice time %q: not a recent time (%v)", sh.Attrs["time"], err)
	}
	if !strings.Contains(sh.Text, at.Local().Format("15:04:05")) {
		return fmt.Sprintf("notice %q does not show its time %s", sh.Text, at.Local().Format("15:04:05"))
	}
	if len(s.Shifts) == 0 || s.Shifts[0].Attrs["shift"] != kind || s.Shifts[0].Attrs["from"] != from || !strings.Contains(s.Shifts[0].Text, word) {
		return fmt.Sprintf("latest listed change %+v, want the %s", s.Shifts, kind)
	}
	return ""
}
