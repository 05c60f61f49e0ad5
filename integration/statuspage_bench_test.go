package integration

import (
	"fmt"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/browser"
)

// renderStats is the page's window.costlbStatus: its render timings.
type renderStats struct {
	Renders int     `json:"renders"`
	TotalMs float64 `json:"totalMs"`
	MaxMs   float64 `json:"maxMs"`
	BuildMs float64 `json:"buildMs"`
}

// renderStatsOf reads the page's render timings.
func renderStatsOf(tb testing.TB, b *browser.Browser) renderStats {
	tb.Helper()
	var s renderStats
	if err := b.Eval(`window.costlbStatus`, &s); err != nil {
		tb.Fatal(err)
	}
	return s
}

// waitRenders waits, within pageTimeout, until the page has rendered n
// times in all, and returns its render timings then. The page itself
// watches its count, every 50 ms, so that the wait adds next to no work
// to the browser's.
func waitRenders(tb testing.TB, b *browser.Browser, n int) renderStats {
	tb.Helper()
	var s renderStats
	err := b.Eval(fmt.Sprintf(`new Promise((done) => {
		const end = performance.now() + %d;
		const check = () => window.costlbStatus.renders >= %d || performance.now() > end ? done(window.costlbStatus) : setTimeout(check, 50);
		check();
	})`, pageTimeout.Milliseconds(), n), &s)
	if err != nil {
		tb.Fatal(err)
	}
	if s.Renders < n {
		tb.Fatalf("the page rendered %d times within %v, want %d: it stopped refreshing", s.Renders, pageTimeout, n)
	}
	return s
}

// mainThreadBusy returns how long the browser's main thread has been busy
// running the page's tasks, in seconds (DevTools' TaskDuration).
func mainThreadBusy(tb testing.TB, b *browser.Browser) float64 {
	tb.Helper()
	var m struct {
		Metrics []struct {
			Name  string  `json:"name"`
			Value float64 `json:"value"`
		} `json:"metrics"`
	}
	if err := b.Call("Performance.getMetrics", map[string]any{}, &m); err != nil {
		tb.Fatal(err)
	}
	for _, x := range m.Metrics {
		if x.Name == "TaskDuration" {
			return x.Value
		}
	}
	tb.Fatal("no TaskDuration metric")
	return 0
}

// BenchmarkStatusPageFiftySites measures what the status page of a 50-site
// network (TestStatusPageFiftySites's) costs: its size, that of
// status.json, and the browser's work per refresh. One op is one refresh
// of the page, which polls once a second, so ns/op is about the refresh
// period; render-ms/op is the page's own time to draw a refresh,
// busy-ms/s the browser main thread's work per second, all included.
// Measure over several refreshes:
//
//	go test ./integration/ -run '^$' -bench StatusPageFiftySites -benchtime 10x
func BenchmarkStatusPageFiftySites(b *testing.B) {
	p := openFiftySites(b)
	resp, err := http.Get("http://" + p.statusAddr + "/")
	if err != nil {
		b.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	_, js, _ := p.c.Get("/costlb/")
	hist := httpSize(b, "http://"+p.statusAddr+"/history.json?backends=0")
	if err := p.b.Call("Performance.enable", map[string]any{}, nil); err != nil {
		b.Fatal(err)
	}
	s0 := renderStatsOf(b, p.b)
	t0, w0 := mainThreadBusy(b, p.b), time.Now()
	cpu0, cpuOK := processCPU(p.c.PID())
	b.ResetTimer()
	for i := range b.N {
		waitRenders(b, p.b, s0.Renders+i+1)
	}
	b.StopTimer()
	s1 := renderStatsOf(b, p.b)
	t1, wall := mainThreadBusy(b, p.b), time.Since(w0).Seconds()
	cpu1, _ := processCPU(p.c.PID())
	n := float64(s1.Renders - s0.Renders)
	b.ReportMetric((s1.TotalMs-s0.TotalMs)/n, "render-ms/op")
	b.ReportMetric(s1.MaxMs, "max-render-ms")
	b.ReportMetric(s1.BuildMs, "build-ms")
	b.ReportMetric((t1-t0)*1000/wall, "busy-ms/s")
	b.ReportMetric(float64(len(page)), "page-B")
	b.ReportMetric(float64(len(js)), "status.json-B")
	if hist >= 0 {
		b.ReportMetric(float64(hist), "history.json-B")
	}
	if cpuOK {
		// the server's whole work while the page refreshes: the answers,
		// the history's sampling, the held connections
		b.ReportMetric(float64((cpu1-cpu0).Milliseconds())/wall, "server-cpu-ms/s")
	}
}

// httpSize returns the size of the body GET url answers with, or -1 if it
// does not answer 200 (a Caddy without that resource).
func httpSize(tb testing.TB, url string) int {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return -1
	}
	return len(body)
}
