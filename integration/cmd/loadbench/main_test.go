package main

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// TestMain lets the test binary serve as the echo backend child and the
// child targets (loadbench re-executes its own binary for them) and
// removes a Caddy the harness built.
func TestMain(m *testing.M) {
	if maybeRunEchoChild() || maybeRunChildTarget() {
		return
	}
	code := m.Run()
	harness.RemoveBuiltCaddy()
	os.Exit(code)
}

// TestTinyRun runs the benchmark core end to end in a tiny mode: direct,
// caddy-l4's proxy (the reference) and costlb on both its data paths,
// concurrency 1 and 4, 300 ms
// windows, one round, 20 then 40 idle connections held, echo backends in a
// child process; then writes and checks the Markdown and the SVG.
func TestTinyRun(t *testing.T) {
	caddyBin := harness.CaddyBinary(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	start := time.Now()
	res, err := Run(ctx, Options{
		CaddyBin: caddyBin,
		Targets:  []string{"direct", "proxy-leastconn", "costlb-goroutines", "costlb"},
		Conc:     []int{1, 4},
		Rounds:   1,
		Idle:     []int{20, 40},
		Window:   300 * time.Millisecond,
		Pause:    20 * time.Millisecond,
		Args:     "loadbench (test)",
		Log:      testWriter{t},
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	t.Logf("run took %v", time.Since(start))
	for _, target := range res.Targets {
		for _, c := range []int{1, 4} {
			cell := res.Cell(target, c)
			if cell == nil || len(cell.Samples) != 1 {
				t.Fatalf("%s at concurrency %d: want 1 sample, got %+v", target, c, cell)
			}
			s := cell.Samples[0]
			if s.ConnPerSec <= 0 || s.P50 <= 0 || s.P99 < s.P50 || s.MBps <= 0 ||
				s.BulkDialP50 <= 0 || s.BulkDialP99 < s.BulkDialP50 || s.BulkDialP99 >= opTimeout {
				t.Errorf("%s at concurrency %d: implausible sample %+v", target, c, s)
			}
			if s.ConnErrors+s.BulkErrors > 0 {
				t.Errorf("%s at concurrency %d: %d churn errors, %d bulk errors", target, c, s.ConnErrors, s.BulkErrors)
			}
		}
	}
	if r, ok := res.Ratio(refTarget, 4, mConn); !ok || r != 1 {
		t.Errorf("reference ratio = %v, %v; want 1, true", r, ok)
	}
	if _, judged := res.GoalsMet(); !judged {
		t.Error("goals not judged although costlb and the reference were measured")
	}
	checkIdle(t, res)

	dir := t.TempDir()
	md, svg := filepath.Join(dir, "docs", "benchmarks.md"), filepath.Join(dir, "docs", "benchmarks.svg")
	if err := writeOutputs(res, md, svg); err != nil {
		t.Fatal(err)
	}
	checkMarkdown(t, md, res)
	checkSVG(t, svg, res.Targets)
}

// TestPathsFromRepoRoot checks that loadbench, a module of its own run in
// its directory, takes relative paths on its command line and its default
// reports from the repository root, keeps absolute paths and "-", and
// looks for the root only when a path is relative.
func TestPathsFromRepoRoot(t *testing.T) {
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "xcaddy.sh")); err != nil || root == wd {
		t.Fatalf("module root %s (test in %s) is not the repository root: %v", root, wd, err)
	}
	if rel, err := filepath.Rel(root, wd); err != nil || rel != filepath.Join("integration", "cmd", "loadbench") {
		t.Fatalf("test runs in %s, want <root>/integration/cmd/loadbench (%v)", rel, err)
	}

	args := []string{"-caddy", "caddy", "-caddy-before", "/opt/old/caddy", "-json", "out/r.json", "-out-svg", "-"}
	f, err := parseFlags(args)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.resolvePaths(harness.ModuleRoot); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ flag, got, want string }{
		{"-caddy", f.caddyBin, filepath.Join(root, "caddy")},
		{"-caddy-before", f.beforeBin, "/opt/old/caddy"},
		{"-json", f.outJSON, filepath.Join(root, "out", "r.json")},
		{"-out-md", f.outMD, filepath.Join(root, "docs", "benchmarks.md")},
		{"-out-svg", f.outSVG, "-"},
		{"-render", f.render, ""},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.flag, c.got, c.want)
		}
	}
	opts, err := f.options(args)
	if err != nil {
		t.Fatal(err)
	}
	if opts.CaddyBin != filepath.Join(root, "caddy") || opts.BeforeBin != "/opt/old/caddy" {
		t.Errorf("options: CaddyBin %q, BeforeBin %q", opts.CaddyBin, opts.BeforeBin)
	}

	noRoot := func() (string, error) { return "", errors.New("no repository here") }
	f, err = parseFlags([]string{"-out-md", "/r/b.md", "-out-svg", "-", "-caddy", "/r/caddy"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.resolvePaths(noRoot); err != nil || f.outMD != "/r/b.md" || f.outSVG != "-" || f.caddyBin != "/r/caddy" {
		t.Errorf("absolute paths without a root: %v, -out-md %q, -out-svg %q, -caddy %q", err, f.outMD, f.outSVG, f.caddyBin)
	}
	f, err = parseFlags([]string{"-out-md", "/r/b.md", "-out-svg", "/r/b.svg", "-render", "saved.json"})
	if err != nil {
		t.Fatal(err)
	}
	if err := f.resolvePaths(noRoot); err == nil || !strings.Contains(err.Error(), "-render saved.json") {
		t.Errorf("a relative -render without a root: error %v, want one naming it", err)
	}
}

// TestReportWithoutReference renders a result without the reference target
// and with a skipped HAProxy: ratios are n/a, the SVG is still well formed.
func TestReportWithoutReference(t *testing.T) {
	res := &Results{
		Opts:       Options{Conc: []int{1, 16}, Rounds: 3, Window: time.Second},
		RoundsDone: 3,
		Targets:    []string{"direct", "costlb"},
		Notes:      []string{"HAProxy was skipped: haproxy not installed (apt-get install haproxy)."},
		Cells:      map[string]*Cell{},
	}
	for _, target := range res.Targets {
		for _, c := range res.Opts.Conc {
			res.Cells[cellKey(target, c)] = &Cell{Target: target, Conc: c, Samples: []Sample{
				{ConnPerSec: 100, P50: time.Millisecond, P99: 3 * time.Millisecond, MBps: 10},
				{ConnPerSec: 300, P50: 2 * time.Millisecond, P99: 5 * time.Millisecond, MBps: 30},
				{ConnPerSec: 200, P50: 3 * time.Millisecond, P99: 4 * time.Millisecond, MBps: 20},
			}}
		}
	}
	if v, ok := res.Median("costlb", 16, mConn); !ok || v != 200 {
		t.Errorf("median = %v, %v; want 200", v, ok)
	}
	if _, ok := res.Ratio("costlb", 16, mConn); ok {
		t.Error("ratio without reference should be n/a")
	}
	dir := t.TempDir()
	md, svg := filepath.Join(dir, "b.md"), filepath.Join(dir, "b.svg")
	if err := writeOutputs(res, md, svg); err != nil {
		t.Fatal(err)
	}
	checkMarkdown(t, md, res)
	checkSVG(t, svg, res.Targets)
	data, _ := os.ReadFile(md)
	if !strings.Contains(string(data), "haproxy not installed") || !strings.Contains(string(data), "not judged") {
		t.Errorf("markdown lacks the skip note or the not-judged verdict:\n%s", data)
	}

	// -json then -render gives the same report
	saved, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	var back Results
	if err := json.Unmarshal(saved, &back); err != nil {
		t.Fatal(err)
	}
	var a, b bytes.Buffer
	if err := WriteMarkdown(&a, res, "x.svg"); err != nil {
		t.Fatal(err)
	}
	if err := WriteMarkdown(&b, &back, "x.svg"); err != nil {
		t.Fatal(err)
	}
	if a.String() != b.String() || !bytes.Equal(RenderSVG(res), RenderSVG(&back)) {
		t.Error("a report rendered from saved JSON differs from the original")
	}
}

func TestPercentileAndMedian(t *testing.T) {
	var xs []time.Duration
	for i := 1; i <= 100; i++ {
		xs = append(xs, time.Duration(i))
	}
	if p := percentile(xs, 0.5); p != 50 {
		t.Errorf("p50 = %v, want 50", p)
	}
	if p := percentile(xs, 0.99); p != 99 {
		t.Errorf("p99 = %v, want 99", p)
	}
	if p := percentile(nil, 0.99); p != 0 {
		t.Errorf("p99 of none = %v", p)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median = %v, want 2.5", m)
	}
}

// checkIdle checks the idle measurement of a run with 20 then 40 held:
// both Caddy targets measured at both counts, and the goroutines each
// connection costs: two for costlb, three for caddy-l4's proxy.
func checkIdle(t *testing.T, res *Results) {
	t.Helper()
	// costlb's event loop holds none; its goroutine path two per connection
	want := map[string][2]float64{"costlb": {0, 0.1}, "costlb-goroutines": {1.9, 2.1}, "proxy-leastconn": {2.9, 3.1}}
	for target, g := range want {
		ir, ok := res.idleOf(target)
		if !ok || ir.Err != "" || len(ir.Points) != 2 || ir.BaseRSSKiB <= 0 || ir.BaseGoroutines <= 0 {
			t.Fatalf("idle measurement of %s: %+v", target, ir)
		}
		p, _ := ir.Point(40)
		if gp := ir.GoroutinesPerConn(p); gp < g[0] || gp > g[1] {
			t.Errorf("%s: %.2f goroutines per idle connection, want %.1f to %.1f", target, gp, g[0], g[1])
		}
		if p.RSSKiB <= 0 {
			t.Errorf("%s: no RSS with 40 held", target)
		}
	}
}

func checkMarkdown(t *testing.T, path string, res *Results) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	md := string(data)
	for _, want := range []string{"# Benchmarks", "| conc. | target | conn/s |", "## Environment", "CPUs:", "](benchmarks.svg)", "least_conn", "## costlb's data path against its goals"} {
		if want == "](benchmarks.svg)" && filepath.Base(path) != "benchmarks.md" {
			continue
		}
		if !strings.Contains(md, want) {
			t.Errorf("markdown lacks %q:\n%s", want, md)
		}
	}
	// one table row per measured target and concurrency, all with the same
	// number of cells as the header
	var header, rows int
	for _, line := range strings.Split(md, "\n") {
		if strings.HasPrefix(line, "| conc. | target |") {
			header = strings.Count(line, "|")
			continue
		}
		if header > 0 && strings.HasPrefix(line, "| ") && !strings.HasPrefix(line, "|---") {
			if n := strings.Count(line, "|"); n != header {
				t.Errorf("table row has %d pipes, header %d: %q", n, header, line)
			}
			rows++
		} else if header > 0 && !strings.HasPrefix(line, "|") {
			break
		}
	}
	if want := len(res.Targets) * len(res.Opts.Conc); rows != want {
		t.Errorf("results table has %d rows, want %d", rows, want)
	}
}

func checkSVG(t *testing.T, path string, targets []string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := xml.NewDecoder(bytes.NewReader(data))
	var root string
	rects := 0
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatalf("SVG is not well-formed XML: %v\n%s", err, data)
		}
		if se, ok := tok.(xml.StartElement); ok {
			if root == "" {
				root = se.Name.Local
				if se.Name.Space != "http://www.w3.org/2000/svg" {
					t.Errorf("SVG root namespace = %q", se.Name.Space)
				}
			}
			if se.Name.Local == "rect" {
				rects++
			}
		}
	}
	if root != "svg" {
		t.Errorf("root element = %q, want svg", root)
	}
	if rects < 1+len(targets) {
		t.Errorf("SVG has %d rects, want at least background + legend (%d)", rects, 1+len(targets))
	}
	for _, target := range targets {
		if !bytes.Contains(data, []byte(">"+target+"<")) {
			t.Errorf("SVG legend lacks %s", target)
		}
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// TestParsePickBench: go test -bench output becomes one result per policy
// and pool size, every run's sample kept, other lines ignored.
func TestParsePickBench(t *testing.T) {
	out := []byte(`goos: linux
BenchmarkPick/policy=cost/n=2-2         	37800000	        31.50 ns/op	       0 B/op	       0 allocs/op
BenchmarkPick/policy=cost/n=2-2         	37800000	        32.50 ns/op	       0 B/op	       0 allocs/op
BenchmarkPick/policy=least_conn/n=10    	11000000	       104.7 ns/op
PASS
`)
	got := parsePickBench(out)
	if len(got) != 2 || got[0].Policy != "cost" || got[0].N != 2 || len(got[0].NsPerOp) != 2 ||
		got[1].Policy != "least_conn" || got[1].N != 10 || got[1].NsPerOp[0] != 104.7 {
		t.Fatalf("parsePickBench = %+v", got)
	}
	if m := got[0].median(); m != 32 {
		t.Errorf("median of 31.5 and 32.5 = %v, want 32", m)
	}
}
