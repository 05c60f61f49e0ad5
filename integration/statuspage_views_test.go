package integration

import (
	"bytes"
	"flag"
	"fmt"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/browser"
	"github.com/costlb/costlb/integration/harness"
)

// screenshot makes TestStatusPageQuickstart write its screenshots to docs/
// (docs/status-page.png at 1280x800, docs/status-page-phone.png at 390 px):
//
//	go test ./integration/ -run TestStatusPageQuickstart -args -screenshot
var screenshot = flag.Bool("screenshot", false, "write the status page screenshots of the quickstart to docs/")

// layoutJS measures the page: horizontal overflow, where the two panels
// sit, and the smallest font drawn in the graph, in screen pixels.
const layoutJS = `(() => {
	const d = document.documentElement, p = [...document.querySelectorAll('section.panel')].map((e) => e.getBoundingClientRect());
	const svg = document.querySelector('#graph svg'), k = svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;
	const sizes = [...svg.querySelectorAll('text')].filter((t) => t.textContent).map((t) => parseFloat(getComputedStyle(t).fontSize) * k);
	return { scrollWidth: d.scrollWidth, width: d.clientWidth, panels: p.map((r) => [r.left, r.top, r.width]), minText: Math.min(...sizes) };
})()`

type pageLayout struct {
	ScrollWidth int          `json:"scrollWidth"`
	Width       int          `json:"width"`
	Panels      [][3]float64 `json:"panels"`
	MinText     float64      `json:"minText"`
}

// TestStatusPageQuickstart opens the status page of examples/quickstart
// with eight connections held, at 1280x800 and at phone width, and checks
// that it shows the README's numbers and fits each screen: two columns on
// the desktop, one on the phone, nothing wider than the screen.
func TestStatusPageQuickstart(t *testing.T) {
	bin := browser.Require(t)
	ports := map[string]string{}
	c := harness.StartCaddy(t, example(t, "quickstart/Caddyfile", ports), "caddyfile")
	waitHealthy(t, c, "demo")
	openRaw(t, "127.0.0.1"+ports[":8080"], 8)
	harness.WaitFor(t, 5*time.Second, func() bool {
		live := liveByAddress(t, c, "demo")
		return live["127.0.0.1"+ports[":9001"]] == 7 && live["127.0.0.1"+ports[":9002"]] == 1
	}, "8 held connections spread east 7, west 1")

	b := browser.Start(t, bin, 1280, 800)
	if err := b.Navigate("http://127.0.0.1"+ports[":9180"]+"/", pageTimeout); err != nil {
		t.Fatal(err)
	}
	waitPage(t, b, pageTimeout, "the quickstart's network and load", func(s domState) string {
		for _, x := range []struct {
			name string
			cost int64
			live int
		}{{"east", 0, 7}, {"west", 5, 1}, {"north", 9999, 0}} {
			if why := siteShows(s, x.name, x.cost, x.live); why != "" {
				return why
			}
		}
		svc, _ := s.service("demo")
		if why := backendShows(svc, "127.0.0.1"+ports[":9002"], "west", 5, 1, true, false); why != "" {
			return why
		}
		return backendShows(svc, "127.0.0.1"+ports[":9001"], "east", 0, 7, true, true)
	})

	dir := t.TempDir()
	if *screenshot {
		root, err := harness.ModuleRoot()
		if err != nil {
			t.Fatal(err)
		}
		dir = filepath.Join(root, "docs")
	}
	for _, v := range []struct {
		file          string
		width, height int
		mobile        bool
	}{{"status-page.png", 1280, 800, false}, {"status-page-phone.png", 390, 844, true}} {
		if err := b.SetViewport(v.width, v.height, v.mobile); err != nil {
			t.Fatal(err)
		}
		waitViewport(t, b, v.width)
		var l pageLayout
		if err := b.Eval(layoutJS, &l); err != nil {
			t.Fatal(err)
		}
		if l.ScrollWidth > l.Width || len(l.Panels) != 2 {
			t.Errorf("%dpx: page %dpx wide in a %dpx screen (%d panels)", v.width, l.ScrollWidth, l.Width, len(l.Panels))
		} else if twoCols := l.Panels[1][0] > l.Panels[0][0]+l.Panels[0][2]/2; twoCols != !v.mobile {
			t.Errorf("%dpx: panels at %v: want two columns on the desktop, one on a phone", v.width, l.Panels)
		}
		if l.MinText < 8 {
			t.Errorf("%dpx: graph text drawn at %.1fpx, want at least 8", v.width, l.MinText)
		}
		shot, err := b.Screenshot()
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(shot))
		if err != nil || img.Bounds().Dx() != v.width || img.Bounds().Dy() != v.height {
			t.Fatalf("screenshot: %v, want a %dx%d PNG", err, v.width, v.height)
		}
		if err := os.WriteFile(filepath.Join(dir, v.file), shot, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("%dx%d: wrote %s", v.width, v.height, filepath.Join(dir, v.file))
	}
}

// fiftySites is a network of 50 sites around hq: 7 regions linked to hq,
// 6 sites in each region, the regions in a ring and each region's last
// site linked to the next region's first: 63 links.
func fiftySites() (sites []string, network string) {
	var b strings.Builder
	b.WriteString("site hq\n")
	sites = append(sites, "hq")
	for r := 1; r <= 7; r++ {
		region := fmt.Sprintf("region-%d", r)
		sites = append(sites, region)
		fmt.Fprintf(&b, "link hq %s %d\n", region, 10*r)
		fmt.Fprintf(&b, "link %s region-%d 50\n", region, r%7+1)
		for i := 1; i <= 6; i++ {
			site := fmt.Sprintf("%s-site-%d", region, i)
			sites = append(sites, site)
			fmt.Fprintf(&b, "link %s %s %d\n", region, site, i)
		}
		fmt.Fprintf(&b, "link region-%d-site-6 region-%d-site-1 20\n", r, r%7+1)
	}
	return sites, b.String()
}

// fiftySitesPage is the status page of the network of fiftySites, with a
// backend in every site and 120 connections held, open in a browser.
type fiftySitesPage struct {
	c          *harness.Caddy
	b          *browser.Browser
	statusAddr string
}

// openFiftySites starts the Caddy and the browser of a fiftySitesPage and
// waits until the page shows every site and link, with the admin API's
// costs and live counts.
func openFiftySites(tb testing.TB) fiftySitesPage {
	tb.Helper()
	bin := browser.Require(tb)
	sites, network := fiftySites()
	var backends strings.Builder
	for _, s := range sites {
		fmt.Fprintf(&backends, "backend %s %s\n", s, harness.StartBackend(tb, s).Addr())
	}
	listen, statusAddr := harness.FreeAddr(tb), harness.FreeAddr(tb)
	cfg := costlbCaddyfile(network, costlbRoute(listen, `
		name fleet
		%s`, backends.String())) + statusSite(statusAddr)
	c := harness.StartCaddy(tb, cfg, "caddyfile")
	holdN(tb, listen, 120)
	v := mustView(tb, c)
	if len(v.Sites) != 50 {
		tb.Fatalf("the admin API shows %d sites, want 50", len(v.Sites))
	}
	live := map[string]int{}
	for _, be := range mustService(tb, v, "fleet").Backends {
		live[be.Site] += int(be.Live)
	}

	b := browser.Start(tb, bin, 1280, 800)
	if err := b.Navigate("http://"+statusAddr+"/", pageTimeout); err != nil {
		tb.Fatal(err)
	}
	waitPage(tb, b, pageTimeout, "50 sites, 63 links", func(s domState) string {
		if len(s.Sites) != 50 || len(s.Links) != 63 {
			return fmt.Sprintf("%d sites, %d links drawn", len(s.Sites), len(s.Links))
		}
		for _, site := range v.Sites {
			if why := siteShows(s, site.Name, site.PathCost, live[site.Name]); why != "" {
				return why
			}
		}
		return ""
	})
	return fiftySitesPage{c: c, b: b, statusAddr: statusAddr}
}

// TestStatusPageFiftySites draws a 50-site network with a backend in every
// site and connections held, checks that every site and link is shown with
// the admin API's costs and counts, that no two sites' drawings overlap
// and that the page keeps refreshing. What the page costs is measured by
// BenchmarkStatusPageFiftySites.
func TestStatusPageFiftySites(t *testing.T) {
	p := openFiftySites(t)
	var overlaps []string
	if err := p.b.Eval(`(() => {
		const boxes = [...document.querySelectorAll('#graph [data-site]')].map((g) => [g.dataset.site, g.getBoundingClientRect()]);
		const hit = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
		const out = [];
		for (let i = 0; i < boxes.length; i++) for (let j = i + 1; j < boxes.length; j++) {
			const [n, c1] = boxes[i], [m, c2] = boxes[j];
			if (hit(c1, c2)) out.push(n + ' / ' + m);
		}
		return out;
	})()`, &overlaps); err != nil {
		t.Fatal(err)
	}
	if len(overlaps) > 0 {
		t.Errorf("%d pairs of sites drawn over each other: %v", len(overlaps), overlaps)
	}
	var l pageLayout
	if err := p.b.Eval(layoutJS, &l); err != nil {
		t.Fatal(err)
	}
	if l.ScrollWidth > l.Width || l.MinText < 8 {
		t.Errorf("page %dpx wide in a %dpx screen, graph text drawn at %.1fpx: want no overflow, text at least 8px", l.ScrollWidth, l.Width, l.MinText)
	}
	// the page refreshes (about once a second): two more renders of it all
	s0 := renderStatsOf(t, p.b)
	waitRenders(t, p.b, s0.Renders+2)
}

// sparseStatus is a status.json whose sites b and d come without a path (a
// producer may give paths only for sites with backends) and whose site e no
// link reaches.
const sparseStatus = `{
	"local_site": "a",
	"sites": [
		{"name": "a", "path_cost": 0, "hops": 0, "path": ["a"], "reachable": true},
		{"name": "b", "path_cost": 2, "reachable": true},
		{"name": "c", "path_cost": 5, "hops": 2, "path": ["a", "b", "c"], "reachable": true},
		{"name": "d", "path_cost": 6, "reachable": true},
		{"name": "e", "path_cost": 0, "path": [], "reachable": false}
	],
	"links": [
		{"between": ["a", "b"], "cost": 2}, {"between": ["b", "c"], "cost": 3},
		{"between": ["a", "c"], "cost": 10}, {"between": ["c", "d"], "cost": 1}
	],
	"services": [{"name": "s", "primary_site": "c", "ready": true, "routes": [{"sites": ["a", "c"], "cost": 5}], "backends": [
		{"site": "c", "address": "10.0.0.3:1", "path_cost": 5, "live_connections": 2, "perceived_cost": 7,
		 "healthy": true, "available": true, "max_connections": 0, "connections_total": 9}
	]}],
	"counters": []
}`

// TestStatusPageMissingPaths serves the page that costlb_status serves
// with a hand-written status.json in which some sites have no path: the
// page computes their cheapest paths from the links, highlights them, and
// shows a site no link reaches as unreachable.
func TestStatusPageMissingPaths(t *testing.T) {
	b := pageWithStatus(t, sparseStatus)
	waitPage(t, b, pageTimeout, "computed paths", func(s domState) string {
		for name, path := range map[string]string{"a": "a", "b": "a b", "c": "a b c", "d": "a b c d", "e": ""} {
			if n, ok := s.site(name); !ok || n.Attrs["path"] != path {
				return fmt.Sprintf("site %s: path %q, want %q", name, n.Attrs["path"], path)
			}
		}
		if why := siteShows(s, "d", 6, -1); why != "" {
			return why
		}
		if why := siteShows(s, "c", 5, 2); why != "" {
			return why
		}
		if e, _ := s.site("e"); e.Attrs["state"] != "unreachable" || !strings.Contains(e.Text, "unreachable") {
			return fmt.Sprintf("site e %v %q, want unreachable", e.Attrs, e.Text)
		}
		for _, l := range [][3]string{{"a", "b", "true"}, {"b", "c", "true"}, {"c", "d", "true"}, {"a", "c", "false"}} {
			if e, _ := s.link(l[0], l[1]); e.Attrs["cheapest"] != l[2] {
				return fmt.Sprintf("link %s-%s: cheapest %q, want %s", l[0], l[1], e.Attrs["cheapest"], l[2])
			}
		}
		return ""
	})
}

// pageWithStatus serves the page costlb_status serves (taken from a real
// Caddy, which is then stopped) with status as its status.json, and
// returns a headless browser at 1280×800 that has opened it: for states
// hard to bring about in a live Caddy.
func pageWithStatus(t *testing.T, status string) *browser.Browser {
	t.Helper()
	bin := browser.Require(t)
	statusAddr := harness.FreeAddr(t)
	c := harness.StartCaddy(t, costlbCaddyfile("site a")+statusSite(statusAddr), "caddyfile")
	resp, err := http.Get("http://" + statusAddr + "/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	c.Stop()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/status.json" {
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, status)
			return
		}
		_, _ = w.Write(page)
	}))
	t.Cleanup(srv.Close)

	b := browser.Start(t, bin, 1280, 800)
	if err := b.Navigate(srv.URL+"/", pageTimeout); err != nil {
		t.Fatal(err)
	}
	return b
}
