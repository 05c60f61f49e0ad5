package integration

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/browser"
	"github.com/costlb/costlb/integration/harness"
)

// statusSite returns a Caddyfile site block that serves costlb_status on
// addr, to append to a Caddyfile.
func statusSite(addr string) string {
	return fmt.Sprintf(`
http://%s {
	bind 127.0.0.1
	costlb_status
}
`, addr)
}

// domItem is one element of the rendered status page: its data-*
// attributes (without the "data-" prefix) and the text a person sees.
type domItem struct {
	Attrs map[string]string `json:"attrs"`
	Text  string            `json:"text"`
}

// domService is one service card with its backend rows and its failover
// or failback notice (nil while hidden).
type domService struct {
	domItem
	Backends []domItem `json:"backends"`
	Shift    *domItem  `json:"shift"`
}

// domState is what the status page shows, read from its DOM.
type domState struct {
	Title    string       `json:"title"`
	Conn     domItem      `json:"conn"`
	Local    string       `json:"local"`
	Sites    []domItem    `json:"sites"`
	Links    []domItem    `json:"links"`
	Services []domService `json:"services"`
	Shifts   []domItem    `json:"shifts"`
	// Events are the server's events (history.json), newest first;
	// Charts the charts of the services and of their backends; Learned
	// the sites drawn from gateways' routes.
	Events  []domItem `json:"events"`
	Charts  []domItem `json:"charts"`
	Learned []domItem `json:"learned"`
	// Injected counts elements that only markup taken from the JSON could
	// have made: none may exist.
	Injected int `json:"injected"`
}

// readDOM is evaluated in the page: it collects the elements that carry
// the page's data-* attributes. SVG text is what its <text> elements show
// (not the <title> tooltip); HTML text is innerText (hidden parts left out).
const readDOM = `(() => {
	const attrs = (e) => Object.fromEntries([...e.attributes].filter((a) => a.name.startsWith('data-')).map((a) => [a.name.slice(5), a.value]));
	const norm = (t) => t.replace(/\s+/g, ' ').trim();
	const item = (e) => ({ attrs: attrs(e), text: norm(e instanceof SVGElement ? [...e.querySelectorAll('text')].map((t) => t.textContent).join(' ') : e.innerText) });
	const all = (root, sel) => [...root.querySelectorAll(sel)].map(item);
	const conn = document.getElementById('conn');
	return {
		title: document.title,
		conn: { attrs: attrs(conn), text: norm(conn.innerText) },
		local: norm(document.getElementById('local-site').innerText),
		sites: all(document, '#graph [data-site]'),
		links: all(document, '#graph [data-link]'),
		services: [...document.querySelectorAll('#services article[data-service]')].map((s) => {
			const sh = s.querySelector('[data-shift]');
			return Object.assign(item(s), { backends: all(s, 'tr[data-backend]'), shift: sh && !sh.hidden ? item(sh) : null });
		}),
		shifts: all(document, '#shifts [data-shift]'),
		events: all(document, '#events [data-event]'),
		charts: [...document.querySelectorAll('#services figure.chart')].map((f) => Object.assign(item(f), { attrs: Object.assign(attrs(f), { kind: f.classList[1], service: f.closest('[data-service]').dataset.service }) })),
		learned: all(document, '#graph [data-learned-site]'),
		injected: document.querySelectorAll('#app img, #app script, #app [onerror], #app i, #services b:not([data-field])').length,
	};
})()`

// pageState reads the page's state once.
func pageState(b *browser.Browser) (domState, error) {
	var s domState
	err := b.Eval(readDOM, &s)
	return s, err
}

// waitPage polls the page until ok accepts what it shows, and fails the
// test with the last state and ok's last complaint after timeout. ok returns
// "" when satisfied, else what is missing.
func waitPage(t testing.TB, b *browser.Browser, timeout time.Duration, what string, ok func(domState) string) domState {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		s, err := pageState(b)
		why := ""
		if err != nil {
			why = err.Error()
		} else if why = ok(s); why == "" {
			return s
		}
		if time.Now().After(deadline) {
			dump, _ := json.MarshalIndent(s, "", "  ")
			t.Fatalf("status page: %s: not shown after %v: %s\npage state:\n%s", what, timeout, why, dump)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// framesJS waits for two frames of the page and returns its viewport
// width: a resize is handled (the page refits its graph on the frame after
// the resize event) by the time the second frame begins.
const framesJS = `(async () => {
	for (let i = 0; i < 2; i++) await new Promise((r) => requestAnimationFrame(r));
	return innerWidth;
})()`

// waitViewport waits until the page is laid out at width CSS pixels and
// has handled the resize.
func waitViewport(t *testing.T, b *browser.Browser, width int) {
	t.Helper()
	var got int
	harness.WaitFor(t, pageTimeout, func() bool {
		if err := b.Eval(framesJS, &got); err != nil {
			t.Fatal(err)
		}
		return got == width
	}, fmt.Sprintf("the page laid out at %dpx", width))
}

// site returns the graph node of site name.
func (s domState) site(name string) (domItem, bool) {
	for _, n := range s.Sites {
		if n.Attrs["site"] == name {
			return n, true
		}
	}
	return domItem{}, false
}

// link returns the graph edge between sites a and b, either way round.
func (s domState) link(a, b string) (domItem, bool) {
	for _, l := range s.Links {
		if (l.Attrs["a"] == a && l.Attrs["b"] == b) || (l.Attrs["a"] == b && l.Attrs["b"] == a) {
			return l, true
		}
	}
	return domItem{}, false
}

// service returns the card of service name.
func (s domState) service(name string) (domService, bool) {
	for _, c := range s.Services {
		if c.Attrs["service"] == name {
			return c, true
		}
	}
	return domService{}, false
}

// backend returns the row of the backend at addr.
func (c domService) backend(addr string) (domItem, bool) {
	for _, r := range c.Backends {
		if r.Attrs["backend"] == addr {
			return r, true
		}
	}
	return domItem{}, false
}

// siteShows checks a site node: its path cost and live count, in its
// attributes and in its visible text.
func siteShows(s domState, name string, cost int64, live int) string {
	n, ok := s.site(name)
	if !ok {
		return fmt.Sprintf("no graph node for site %q", name)
	}
	if n.Attrs["path-cost"] != fmt.Sprint(cost) || !strings.Contains(n.Text, fmt.Sprintf("cost %d", cost)) {
		return fmt.Sprintf("site %q: want path cost %d shown, got attrs %v text %q", name, cost, n.Attrs, n.Text)
	}
	if live >= 0 && (n.Attrs["live"] != fmt.Sprint(live) || !strings.HasPrefix(n.Text, fmt.Sprintf("%d live ", live))) {
		return fmt.Sprintf("site %q: want %d live shown, got attrs %v text %q", name, live, n.Attrs, n.Text)
	}
	return ""
}

// backendShows checks a backend row against the admin API's view of it
// and the live count the test holds.
func backendShows(c domService, addr, site string, path int64, live int, healthy, primary bool) string {
	r, ok := c.backend(addr)
	if !ok {
		return fmt.Sprintf("service %q: no row for backend %s", c.Attrs["service"], addr)
	}
	perceived := path + int64(live)
	want := map[string]string{
		"site": site, "live": fmt.Sprint(live), "perceived": fmt.Sprint(perceived),
		"healthy": fmt.Sprint(healthy), "available": fmt.Sprint(healthy), "primary": fmt.Sprint(primary),
	}
	for k, v := range want {
		if r.Attrs[k] != v {
			return fmt.Sprintf("backend %s: data-%s = %q, want %q (row %v %q)", addr, k, r.Attrs[k], v, r.Attrs, r.Text)
		}
	}
	health := "unhealthy"
	if healthy {
		health = "healthy"
	}
	text := r.Text
	for _, w := range []string{site, addr, fmt.Sprintf(" %d ", live), fmt.Sprintf(" %d ", perceived), health} {
		if !strings.Contains(" "+text+" ", w) {
			return fmt.Sprintf("backend %s: row text %q lacks %q", addr, text, w)
		}
	}
	if strings.Contains(text, "primary") != primary {
		return fmt.Sprintf("backend %s: row text %q, want primary marked: %v", addr, text, primary)
	}
	return ""
}
