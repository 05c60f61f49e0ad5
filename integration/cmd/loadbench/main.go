// Command loadbench is costlb's end-to-end load benchmark. On loopback it
// compares, side by side in one run, direct connections to a backend,
// caddy-l4's proxy (lb_policy least_conn, the reference, and random),
// costlb and, if installed, HAProxy: new connections per second, p50/p99
// connect-to-first-byte latency, bulk throughput and, on held
// connections, small requests answered per second and their latency, at
// several client concurrencies, measured in alternation over several
// rounds. It prints a
// Markdown table and writes docs/benchmarks.md and docs/benchmarks.svg.
//
// loadbench is a Go module of its own, so that the root module needs only
// what a Caddy build does (not nbio, which its nbio-proxy target uses).
// From the repository root:
//
//	go build -o /tmp/caddy ./integration/cmd/caddy
//	go run -C integration/cmd/loadbench . -caddy /tmp/caddy [-quick]
//
// A relative path on its command line is taken from the repository root,
// wherever loadbench runs ("go run -C" runs it in its own directory).
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

func main() {
	if maybeRunEchoChild() || maybeRunChildTarget() {
		return
	}
	os.Exit(mainErr(os.Args[1:]))
}

func mainErr(args []string) int {
	f, err := parseFlags(args)
	if err != nil {
		return 2
	}
	if err := f.resolvePaths(harness.ModuleRoot); err != nil {
		fmt.Fprintf(os.Stderr, "loadbench: %v\n", err)
		return 1
	}
	opts, err := f.options(args)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadbench: %v\n", err)
		return 2
	}
	if f.render != "" {
		return renderSaved(f.render, f.outMD, f.outSVG)
	}
	if f.pick && !f.quick {
		if opts.PickRoot, err = harness.ModuleRoot(); err != nil {
			fmt.Fprintf(os.Stderr, "loadbench: -pick runs BenchmarkPick in the repository: %v (or give -pick=false)\n", err)
			return 1
		}
	}
	return measure(opts, f.outMD, f.outSVG, f.outJSON)
}

// cliFlags are loadbench's command-line flags.
type cliFlags struct {
	caddyBin, beforeBin, idle string
	quick, pick               bool
	rounds                    int
	window, pause             time.Duration
	conc, rrConc, targets     string
	loads                     string
	inproc                    bool
	outMD, outSVG, outJSON    string
	render                    string
}

// parseFlags parses the command line; the flag package reports errors.
func parseFlags(args []string) (*cliFlags, error) {
	var f cliFlags
	fs := flag.NewFlagSet("loadbench", flag.ContinueOnError)
	fs.StringVar(&f.caddyBin, "caddy", "", "prebuilt Caddy with caddy-l4 and costlb (default: go build ./integration/cmd/caddy in the repository root first)")
	fs.StringVar(&f.beforeBin, "caddy-before", "", "a Caddy built with an earlier costlb: adds the target costlb-before")
	fs.StringVar(&f.idle, "idle", "", "connections held for the idle memory measurement, comma-separated (default 2000,8000, quick 1000; 0 skips it)")
	fs.BoolVar(&f.quick, "quick", false, "short run (3 rounds × 250ms), under 60 s with -caddy")
	fs.BoolVar(&f.pick, "pick", true, "first run BenchmarkPick (go test in the repository root) for the pick's table; not with -quick")
	fs.IntVar(&f.rounds, "rounds", 0, "measurements per target and concurrency (default 9, quick 3)")
	fs.DurationVar(&f.window, "window", 0, "length of one measurement (default 1s, quick 250ms)")
	fs.DurationVar(&f.pause, "pause", 0, "idle time after each measurement (default 100ms, quick 40ms)")
	fs.StringVar(&f.conc, "conc", "1,16,128", "client concurrencies of churn and bulk, comma-separated")
	fs.StringVar(&f.rrConc, "rr-conc", "1,32,128", "held connections of reqresp, comma-separated")
	fs.StringVar(&f.loads, "loads", strings.Join(loadNames, ","), "loads to measure, comma-separated, of "+strings.Join(loadNames, ","))
	fs.StringVar(&f.targets, "targets", strings.Join(defaultTargets, ","), "targets to measure, comma-separated, of "+strings.Join(targetOrder, ","))
	fs.BoolVar(&f.inproc, "inproc-backends", false, "run the echo backends in this process instead of a child process")
	fs.StringVar(&f.outMD, "out-md", "docs/benchmarks.md", "Markdown report ('-' to skip)")
	fs.StringVar(&f.outSVG, "out-svg", "docs/benchmarks.svg", "SVG chart ('-' to skip)")
	fs.StringVar(&f.outJSON, "json", "", "also save the raw results (every sample) as JSON to this file")
	fs.StringVar(&f.render, "render", "", "measure nothing: rewrite the Markdown and SVG from results saved with -json")
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "Usage of loadbench (relative paths are taken from the repository root):\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	return &f, nil
}

// resolvePaths makes the file paths of the flags absolute, taking a
// relative one from the repository root, the directory of the go.mod of
// github.com/costlb/costlb that root (harness.ModuleRoot) finds, and not
// from the current directory: loadbench is a module of its own and
// "go run -C integration/cmd/loadbench ." runs it in that directory,
// while its paths, the default docs/benchmarks.md and docs/benchmarks.svg
// included, are written as from the root. "-" (skip a report) is kept. The
// root is looked for only if a path is relative.
func (f *cliFlags) resolvePaths(root func() (string, error)) error {
	dir := ""
	for _, p := range []struct {
		flag string
		path *string
		skip bool // "-" skips this output
	}{
		{"-caddy", &f.caddyBin, false},
		{"-caddy-before", &f.beforeBin, false},
		{"-out-md", &f.outMD, true},
		{"-out-svg", &f.outSVG, true},
		{"-json", &f.outJSON, false},
		{"-render", &f.render, false},
	} {
		if *p.path == "" || (p.skip && *p.path == "-") || filepath.IsAbs(*p.path) {
			continue
		}
		if dir == "" {
			var err error
			if dir, err = root(); err != nil {
				return fmt.Errorf("%s %s is relative to the repository root: %w (give an absolute path)", p.flag, *p.path, err)
			}
		}
		*p.path = filepath.Join(dir, *p.path)
	}
	return nil
}

// options returns the run's options from the flags: the defaults (of
// -quick if given), what the flags set, the concurrencies, targets and
// idle counts parsed.
func (f *cliFlags) options(args []string) (Options, error) {
	opts := Options{
		CaddyBin:   f.caddyBin,
		BeforeBin:  f.beforeBin,
		Idle:       []int{2000, 8000},
		HAProxyBin: findHAProxy(),
		Rounds:     9,
		Window:     time.Second,
		Pause:      100 * time.Millisecond,
		Inproc:     f.inproc,
		Quick:      f.quick,
		Args:       strings.TrimSpace("loadbench " + strings.Join(args, " ")),
		Log:        os.Stderr,
	}
	if f.quick {
		opts.Rounds, opts.Window, opts.Pause = 3, 250*time.Millisecond, 40*time.Millisecond
		opts.Idle = []int{1000}
		// on a busy machine a round takes longer than its windows add up
		// to: start no round that would end past 45 s
		opts.Budget = 45 * time.Second
	}
	if f.rounds > 0 {
		opts.Rounds = f.rounds
	}
	if f.window > 0 {
		opts.Window = f.window
	}
	if f.pause > 0 {
		opts.Pause = f.pause
	}
	var err error
	if opts.Loads, err = parseLoads(f.loads); err != nil {
		return opts, err
	}
	if opts.measures(loadChurn) || opts.measures(loadBulk) {
		if opts.Conc, err = parseConc("-conc", f.conc); err != nil {
			return opts, err
		}
	}
	if opts.measures(loadReqResp) {
		if opts.RRConc, err = parseConc("-rr-conc", f.rrConc); err != nil {
			return opts, err
		}
	}
	for _, t := range strings.Split(f.targets, ",") {
		if t = strings.TrimSpace(t); t != "" {
			opts.Targets = append(opts.Targets, t)
		}
	}
	if f.beforeBin != "" && !slices.Contains(opts.Targets, "costlb-before") {
		opts.Targets = append(opts.Targets, "costlb-before")
	}
	if f.idle != "" {
		idle, err := parseIdle(f.idle)
		if err != nil {
			return opts, err
		}
		opts.Idle = idle
	}
	return opts, nil
}

// parseConc parses a list of concurrencies given as flag name.
func parseConc(name, arg string) ([]int, error) {
	var cs []int
	for _, s := range strings.Split(arg, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			return nil, fmt.Errorf("bad %s %q: comma-separated counts of 1 or more", name, arg)
		}
		cs = append(cs, n)
	}
	return cs, nil
}

// parseLoads parses -loads: names of loadNames, each once; at least one.
func parseLoads(arg string) ([]string, error) {
	var loads []string
	for _, s := range strings.Split(arg, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(loadNames, s) || slices.Contains(loads, s) {
			return nil, fmt.Errorf("bad -loads %q: comma-separated, each once, of %s", arg, strings.Join(loadNames, ","))
		}
		loads = append(loads, s)
	}
	return loads, nil
}

// parseIdle parses -idle: ascending connection counts; 0 is left out.
func parseIdle(arg string) ([]int, error) {
	var idle []int
	for _, s := range strings.Split(arg, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 0 || (len(idle) > 0 && n <= idle[len(idle)-1]) {
			return nil, fmt.Errorf("bad -idle %q: ascending connection counts, or 0", arg)
		}
		if n > 0 {
			idle = append(idle, n)
		}
	}
	return idle, nil
}

// renderSaved rewrites the Markdown and SVG from the results saved in path
// and prints the table.
func renderSaved(path, md, svg string) int {
	data, err := os.ReadFile(path)
	if err != nil {
		fmt.Fprintf(os.Stderr, "loadbench: %v\n", err)
		return 1
	}
	var res Results
	if err := json.Unmarshal(data, &res); err != nil {
		fmt.Fprintf(os.Stderr, "loadbench: %s: %v\n", path, err)
		return 1
	}
	if err := writeOutputs(&res, md, svg); err != nil {
		fmt.Fprintf(os.Stderr, "loadbench: %v\n", err)
		return 1
	}
	writeConsole(os.Stdout, &res, false)
	return 0
}

// writeConsole prints the results tables and, with goals, the goal
// tables, of the loads measured, a blank line between two.
func writeConsole(w io.Writer, res *Results, goals bool) {
	parts := []func(io.Writer, *Results){WriteTable, WriteRRTable}
	if goals {
		if res.Opts.measures(loadChurn) {
			parts = append(parts, WriteGoals)
		}
		parts = append(parts, WriteSpikeGoals)
	}
	sep := ""
	for _, write := range parts {
		var b bytes.Buffer
		write(&b, res)
		if b.Len() > 0 {
			fmt.Fprint(w, sep)
			_, _ = w.Write(b.Bytes())
			sep = "\n"
		}
	}
}

// measure runs the benchmark (building Caddy first if needed and not
// given), writes the reports and the JSON if asked, and prints the tables.
func measure(opts Options, md, svg, outJSON string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		stop() // a second Ctrl-C ends loadbench at once (children die by Pdeathsig)
	}()

	needCaddy := false
	for _, t := range opts.Targets {
		needCaddy = needCaddy || caddyTargets[t]
	}
	if needCaddy && opts.CaddyBin == "" {
		fmt.Fprintln(os.Stderr, "building Caddy from this tree (pass -caddy to use a prebuilt one)...")
		p, out, err := harness.BuildCaddy()
		defer harness.RemoveBuiltCaddy()
		if err != nil {
			fmt.Fprintf(os.Stderr, "loadbench: %v\n%s", err, out)
			return 1
		}
		opts.CaddyBin = p
	}

	res, err := Run(ctx, opts)
	if err != nil {
		if errors.Is(err, context.Canceled) {
			fmt.Fprintln(os.Stderr, "loadbench: interrupted; every started process was stopped")
			return 130
		}
		fmt.Fprintf(os.Stderr, "loadbench: %v\n", err)
		return 1
	}
	if err := writeOutputs(res, md, svg); err != nil {
		fmt.Fprintf(os.Stderr, "loadbench: %v\n", err)
		return 1
	}
	if outJSON != "" {
		if err := saveJSON(res, outJSON); err != nil {
			fmt.Fprintf(os.Stderr, "loadbench: %v\n", err)
			return 1
		}
	}
	fmt.Println()
	writeConsole(os.Stdout, res, true)
	if md != "-" {
		fmt.Printf("\nwrote %s\n", md)
	}
	if svg != "-" {
		fmt.Printf("wrote %s\n", svg)
	}
	return 0
}

// saveJSON writes the results, every sample, as indented JSON to path.
func saveJSON(res *Results, path string) error {
	data, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, data, 0o644)
}

// writeOutputs writes the Markdown report and the SVG chart ("-" skips one).
func writeOutputs(res *Results, md, svg string) error {
	if svg != "-" {
		if err := os.MkdirAll(filepath.Dir(svg), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(svg, RenderSVG(res), 0o644); err != nil {
			return err
		}
	}
	if md != "-" {
		rel := ""
		if svg != "-" {
			var err error
			if rel, err = filepath.Rel(filepath.Dir(md), svg); err != nil {
				rel = svg
			}
			rel = filepath.ToSlash(rel)
		}
		if err := os.MkdirAll(filepath.Dir(md), 0o755); err != nil {
			return err
		}
		f, err := os.Create(md)
		if err != nil {
			return err
		}
		if err := WriteMarkdown(f, res, rel); err != nil {
			_ = f.Close()
			return err
		}
		return f.Close()
	}
	return nil
}
