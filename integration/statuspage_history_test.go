package integration

import (
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/costlb/costlb/integration/browser"
	"github.com/costlb/costlb/integration/harness"
)

// historyIntervalEnv is the module's test-only knob that sets the
// history's sampling interval (module/history.go): at 20ms a minute of
// samples (60 points) takes 1.2 s, not a minute.
const historyIntervalEnv = "COSTLB_TEST_HISTORY_INTERVAL"

// chart returns the chart of kind ("svc-chart", "be-chart", "be-bytes") of
// service, for backend if not "".
func (s domState) chart(kind, service, backend string) (domItem, bool) {
	for _, c := range s.Charts {
		if c.Attrs["kind"] == kind && c.Attrs["service"] == service && (backend == "" || c.Attrs["backend"] == backend) {
			return c, true
		}
	}
	return domItem{}, false
}

// TestStatusPageHistory opens the status page only after a failover and
// checks that the server's history tells it: the failover in the event
// list, with the backend down event and its reason; the service's chart
// with more than a minute of points, and a backend's charts on demand.
// Two services share the backend address that holds the connections: the
// site shows them once. The page fits 1280 px without sideways scroll.
//
// The history is sampled every 20ms here (the module's test-only knob),
// so that a minute of samples piles up in a little over a second.
func TestStatusPageHistory(t *testing.T) {
	bin := browser.Require(t)
	t.Setenv(historyIntervalEnv, "20ms")
	east := harness.StartBackend(t, "east")
	west := harness.StartBackend(t, "west")
	orders, mirror, status := harness.FreeAddr(t), harness.FreeAddr(t), harness.FreeAddr(t)
	c := harness.StartCaddy(t, costlbCaddyfile("site east\nlink east west 5",
		costlbRoute(orders, `
		name orders
		backend east %s
		backend west %s
		health_interval 100ms
		health_timeout 200ms
		lb_try_duration 2s
		lb_try_interval 50ms`, east.Addr(), west.Addr()),
		costlbRoute(mirror, `
		name mirror
		backend west %s`, west.Addr()))+statusSite(status), "caddyfile")
	waitHealthy(t, c, "orders")
	if name, err := harness.Once(orders, dialTimeout); err != nil || name != "east" {
		t.Fatalf("first connection reached %q, %v; want east", name, err)
	}

	// east goes away: orders fails over to west
	east.Stop()
	url := "http://" + status + "/history.json"
	harness.WaitFor(t, pageTimeout, func() bool {
		e, ok := getHistory(t, url).event("failover", "")
		return ok && e.Service == "orders" && e.From == "east" && e.To == "west"
	}, "the failover of orders from east to west in history.json")

	// five connections held on west, which mirror uses too
	holdN(t, orders, 5)
	harness.WaitFor(t, pageTimeout, func() bool {
		return liveByAddress(t, c, "orders")[west.Addr()] == 5 && liveByAddress(t, c, "mirror")[west.Addr()] == 5
	}, "5 live connections on west, in both services")
	// more than a minute of samples of orders since it started
	harness.WaitFor(t, pageTimeout, func() bool {
		d := getHistory(t, url+"?service=orders")
		return len(d.Services) == 1 && len(d.Services[0].Live) >= 70
	}, "70 samples of orders")

	b := browser.Start(t, bin, 1280, 800)
	if err := b.Navigate("http://"+status+"/", pageTimeout); err != nil {
		t.Fatal(err)
	}
	s := waitPage(t, b, pageTimeout, "the failover, the charts and west's 5 live connections once", func(s domState) string {
		if why := siteShows(s, "west", 5, 5); why != "" {
			return why + " (two services share the address: its connections count once)"
		}
		ev := ""
		for _, e := range s.Events {
			if e.Attrs["event"] == "failover" && e.Attrs["service"] == "orders" {
				ev = e.Text
				break
			}
		}
		if !strings.Contains(ev, "Failover of orders: primary site east → west") {
			return fmt.Sprintf("no failover of orders east → west in the event list: %v", s.Events)
		}
		ch, ok := s.chart("svc-chart", "orders", "")
		if !ok {
			return "no chart for orders"
		}
		if n, _ := strconv.Atoi(ch.Attrs["points"]); n < 60 {
			return fmt.Sprintf("orders chart has %d points, want a minute's (60) at least: %v %q", n, ch.Attrs, ch.Text)
		}
		if !strings.Contains(ch.Text, "— live now 5, peak 5") {
			return fmt.Sprintf("orders chart caption %q, want 5 live now", ch.Text)
		}
		svc, _ := s.service("orders")
		if r, ok := svc.backend(east.Addr()); !ok || !strings.Contains(r.Text, "Down: active health check failing") {
			return fmt.Sprintf("east row %q: want the reason it is down", r.Text)
		}
		return ""
	})
	if !hasEvent(s, "backend_down", east.Addr()) {
		t.Errorf("no backend_down event for east in the event list: %v", s.Events)
	}

	// a backend's charts, on demand
	if err := b.Eval(`document.querySelector('[data-service="orders"] details.bcharts summary').click(), true`, new(bool)); err != nil {
		t.Fatal(err)
	}
	waitPage(t, b, pageTimeout, "west's charts in orders", func(s domState) string {
		ch, ok := s.chart("be-chart", "orders", west.Addr())
		if !ok {
			return "no chart for west"
		}
		if n, _ := strconv.Atoi(ch.Attrs["points"]); n < 60 {
			return fmt.Sprintf("west's chart has %d points", n)
		}
		if _, ok := s.chart("be-bytes", "orders", west.Addr()); !ok {
			return "no bytes chart for west"
		}
		return ""
	})

	// 1280 px: nothing wider than the screen
	waitViewport(t, b, 1280)
	var l pageLayout
	if err := b.Eval(layoutJS, &l); err != nil {
		t.Fatal(err)
	}
	if l.ScrollWidth > l.Width {
		t.Errorf("1280px: page %dpx wide in a %dpx screen", l.ScrollWidth, l.Width)
	}
	// nor does any part of it scroll sideways: the backends' tables show
	// every column
	var wide []string
	if err := b.Eval(`[...document.querySelectorAll('#app *')].filter((e) => e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX !== 'visible' && e.id !== 'graph' && !e.classList.contains('sr-only')).map((e) => e.tagName + '.' + e.className + ' ' + e.scrollWidth + '>' + e.clientWidth)`, &wide); err != nil {
		t.Fatal(err)
	}
	if len(wide) > 0 {
		t.Errorf("1280px: parts that scroll sideways: %v", wide)
	}
}

// hasEvent reports whether the page lists an event of kind about backend.
func hasEvent(s domState, kind, backend string) bool {
	for _, e := range s.Events {
		if e.Attrs["event"] == kind && e.Attrs["backend"] == backend {
			return true
		}
	}
	return false
}
