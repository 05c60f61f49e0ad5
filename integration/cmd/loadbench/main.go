// Command loadbench is costlb's end-to-end load benchmark. On loopback it
// compares, side by side in one run, direct connections to a backend,
// caddy-l4's proxy (lb_policy least_conn, the reference, and random),
// costlb and, if installed, HAProxy: new connections per second, p50/p99
// connect-to-first-byte latency and bulk throughput at several client
// concurrencies, measured in alternation over several rounds. It prints a
// Markdown table and writes docs/benchmarks.md and docs/benchmarks.svg.
//
//	go build -o /tmp/caddy ./integration/cmd/caddy
//	go run ./integration/cmd/loadbench -caddy /tmp/caddy [-quick]
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
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
	if maybeRunEchoChild() {
		return
	}
	os.Exit(mainErr(os.Args[1:]))
}

func mainErr(args []string) int {
	fs := flag.NewFlagSet("loadbench", flag.ContinueOnError)
	caddyBin := fs.String("caddy", "", "prebuilt Caddy with caddy-l4 and costlb (default: go build ./integration/cmd/caddy from this tree first)")
	beforeBin := fs.String("caddy-before", "", "a Caddy built with an earlier costlb: adds the target costlb-before")
	idle := fs.String("idle", "", "connections held for the idle memory measurement, comma-separated (default 2000,8000, quick 1000; 0 skips it)")
	quick := fs.Bool("quick", false, "short run (3 rounds × 250ms), under 60 s with -caddy")
	rounds := fs.Int("rounds", 0, "measurements per target and concurrency (default 9, quick 3)")
	window := fs.Duration("window", 0, "length of one measurement (default 1s, quick 250ms)")
	pause := fs.Duration("pause", 0, "idle time after each measurement (default 100ms, quick 40ms)")
	conc := fs.String("conc", "1,16,128", "client concurrencies, comma-separated")
	targets := fs.String("targets", strings.Join(defaultTargets, ","), "targets to measure, comma-separated, of "+strings.Join(targetOrder, ","))
	inproc := fs.Bool("inproc-backends", false, "run the echo backends in this process instead of a child process")
	outMD := fs.String("out-md", "", "Markdown report (default <module root>/docs/benchmarks.md; '-' to skip)")
	outSVG := fs.String("out-svg", "", "SVG chart (default <module root>/docs/benchmarks.svg; '-' to skip)")
	outJSON := fs.String("json", "", "also save the raw results (every sample) as JSON to this file")
	render := fs.String("render", "", "measure nothing: rewrite the Markdown and SVG from results saved with -json")
	if err := fs.Parse(args); err != nil {
		return 2
	}

	opts := Options{
		CaddyBin:   *caddyBin,
		BeforeBin:  *beforeBin,
		Idle:       []int{2000, 8000},
		HAProxyBin: findHAProxy(),
		Rounds:     9,
		Window:     time.Second,
		Pause:      100 * time.Millisecond,
		Inproc:     *inproc,
		Quick:      *quick,
		Args:       strings.TrimSpace("loadbench " + strings.Join(args, " ")),
		Log:        os.Stderr,
	}
	if *quick {
		opts.Rounds, opts.Window, opts.Pause = 3, 250*time.Millisecond, 40*time.Millisecond
		opts.Idle = []int{1000}
		// on a busy machine a round takes longer than its windows add up
		// to: start no round that would end past 45 s
		opts.Budget = 45 * time.Second
	}
	if *rounds > 0 {
		opts.Rounds = *rounds
	}
	if *window > 0 {
		opts.Window = *window
	}
	if *pause > 0 {
		opts.Pause = *pause
	}
	for _, f := range strings.Split(*conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			fmt.Fprintf(os.Stderr, "loadbench: bad -conc %q\n", *conc)
			return 2
		}
		opts.Conc = append(opts.Conc, n)
	}
	for _, t := range strings.Split(*targets, ",") {
		if t = strings.TrimSpace(t); t != "" {
			opts.Targets = append(opts.Targets, t)
		}
	}
	if *beforeBin != "" && !slices.Contains(opts.Targets, "costlb-before") {
		opts.Targets = append(opts.Targets, "costlb-before")
	}
	if *idle != "" {
		opts.Idle = nil
		for _, f := range strings.Split(*idle, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || n < 0 || (len(opts.Idle) > 0 && n <= opts.Idle[len(opts.Idle)-1]) {
				fmt.Fprintf(os.Stderr, "loadbench: bad -idle %q: ascending connection counts, or 0\n", *idle)
				return 2
			}
			if n > 0 {
				opts.Idle = append(opts.Idle, n)
			}
		}
	}

	md, svg := *outMD, *outSVG
	if md == "" || svg == "" {
		root, err := harness.ModuleRoot()
		if err != nil {
			fmt.Fprintf(os.Stderr, "loadbench: %v (give -out-md and -out-svg)\n", err)
			return 1
		}
		if md == "" {
			md = filepath.Join(root, "docs", "benchmarks.md")
		}
		if svg == "" {
			svg = filepath.Join(root, "docs", "benchmarks.svg")
		}
	}

	if *render != "" {
		data, err := os.ReadFile(*render)
		if err != nil {
			fmt.Fprintf(os.Stderr, "loadbench: %v\n", err)
			return 1
		}
		var res Results
		if err := json.Unmarshal(data, &res); err != nil {
			fmt.Fprintf(os.Stderr, "loadbench: %s: %v\n", *render, err)
			return 1
		}
		if err := writeOutputs(&res, md, svg); err != nil {
			fmt.Fprintf(os.Stderr, "loadbench: %v\n", err)
			return 1
		}
		WriteTable(os.Stdout, &res)
		return 0
	}

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
	if *outJSON != "" {
		data, err := json.MarshalIndent(res, "", "  ")
		if err == nil {
			err = os.WriteFile(*outJSON, data, 0o644)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "loadbench: %v\n", err)
			return 1
		}
	}
	fmt.Println()
	WriteTable(os.Stdout, res)
	fmt.Println()
	WriteGoals(os.Stdout, res)
	if md != "-" {
		fmt.Printf("\nwrote %s\n", md)
	}
	if svg != "-" {
		fmt.Printf("wrote %s\n", svg)
	}
	return 0
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
