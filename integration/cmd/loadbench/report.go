package main

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"time"
)

// Goals the project set for costlb against the reference, at every
// concurrency.
const (
	goalConnRatio = 0.95 // costlb conn/s >= 0.95x reference
	goalP99Ratio  = 1.10 // costlb p99 <= 1.1x reference
)

// GoalsMet reports whether costlb met both goals at every concurrency, and
// whether that could be judged at all (churn measured, with costlb and
// the reference).
func (r *Results) GoalsMet() (met, judged bool) {
	if !r.Opts.measures(loadChurn) || len(r.Opts.Conc) == 0 {
		return false, false
	}
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

// column is one column of a Markdown table whose rows are (target,
// concurrency) pairs.
type column struct {
	head  string
	align string // its line under the header: "---" or "---:"
	cell  func(t string, c int) string
}

// writeColumns writes a Markdown table of cols with a row for each
// concurrency of concs and each target of r that has has(t, c).
func writeColumns(w io.Writer, r *Results, cols []column, concs []int, has func(t string, c int) bool) {
	for _, col := range cols {
		fmt.Fprintf(w, "| %s ", col.head)
	}
	fmt.Fprintln(w, "|")
	for _, col := range cols {
		fmt.Fprintf(w, "|%s", col.align)
	}
	fmt.Fprintln(w, "|")
	for _, c := range concs {
		for _, t := range r.Targets {
			if !has(t, c) {
				continue
			}
			for _, col := range cols {
				fmt.Fprintf(w, "| %s ", col.cell(t, c))
			}
			fmt.Fprintln(w, "|")
		}
	}
}

// rowName is a target's name in a results table.
func rowName(t string) string {
	switch t {
	case refTarget:
		return t + " (ref)"
	case "costlb":
		return "**costlb**"
	}
	return t
}

// tableStats gives a results table its figures: medians over rounds and
// medians of per-round ratios to the reference, of one kind of cell.
type tableStats struct {
	median func(t string, c int, m metricFunc) (float64, bool)
	ratio  func(t string, c int, m metricFunc) (float64, bool)
}

// churnBulkStats are the figures of the churn and bulk cells.
func churnBulkStats(r *Results) tableStats { return tableStats{r.Median, r.Ratio} }

// rrStats are the figures of the request/response cells.
func rrStats(r *Results) tableStats {
	return tableStats{r.RRMedian, func(t string, c int, m metricFunc) (float64, bool) { return r.RRRatioTo(t, refTarget, c, m) }}
}

func (s tableStats) med(t string, c int, m metricFunc) float64 {
	v, _ := s.median(t, c, m)
	return v
}

// rate is a column of m's median, with no decimals.
func (s tableStats) rate(head string, m metricFunc) column {
	return column{head, "---:", func(t string, c int) string { return fmt.Sprintf("%.0f", s.med(t, c, m)) }}
}

// dur is a column of m's median, a duration.
func (s tableStats) dur(head string, m metricFunc) column {
	return column{head, "---:", func(t string, c int) string { return fmtDur(time.Duration(s.med(t, c, m))) }}
}

// toRef is a column of m's ratio to the reference.
func (s tableStats) toRef(head string, m metricFunc) column {
	return column{head, "---:", func(t string, c int) string { return fmtRatio(s.ratio(t, c, m)) }}
}

// cost is two columns of a proxy cost m: its median formatted by f, and
// its ratio to the reference; "–" both where the median is 0 (no proxy).
func (s tableStats) cost(head string, m metricFunc, f func(float64) string) []column {
	return []column{
		{head, "---:", func(t string, c int) string {
			if v := s.med(t, c, m); v > 0 {
				return f(v)
			}
			return "–"
		}},
		{"× ref", "---:", func(t string, c int) string {
			if s.med(t, c, m) > 0 {
				return fmtRatio(s.ratio(t, c, m))
			}
			return "–"
		}},
	}
}

// keyColumns are the first two columns of a results table.
func keyColumns(conc string) []column {
	return []column{
		{conc, "---:", func(_ string, c int) string { return fmt.Sprint(c) }},
		{"target", "---", func(t string, _ int) string { return rowName(t) }},
	}
}

func fmtDurF(v float64) string { return fmtDur(time.Duration(v)) }

// WriteTable writes the churn and bulk results table in Markdown, with
// the columns of the loads measured (nothing if neither was).
func WriteTable(w io.Writer, r *Results) {
	churn, bulk := r.Opts.measures(loadChurn), r.Opts.measures(loadBulk)
	if !churn && !bulk {
		return
	}
	s := churnBulkStats(r)
	cols := keyColumns("conc.")
	if churn {
		cols = append(cols, s.rate("conn/s", mConn), s.toRef("× ref", mConn),
			column{"conn/s min–max", "---:", func(t string, c int) string { lo, hi := r.span(t, c, mConn); return fmt.Sprintf("%.0f–%.0f", lo, hi) }},
			s.dur("p50", mP50), s.dur("p99", mP99), s.toRef("p99 × ref", mP99))
		cols = append(cols, s.cost("proxy CPU/conn", mCPUc, fmtDurF)...)
	}
	if bulk {
		cols = append(cols, s.rate("bulk MB/s", mMB), s.toRef("× ref", mMB))
		cols = append(cols, s.cost("proxy CPU/GB", mCPUb, fmtGB)...)
		cols = append(cols, s.dur("dial p50 in bulk", mBD50), s.dur("dial p99 in bulk", mBD99))
	}
	cols = append(cols, column{"errors", "---:", func(t string, c int) string { return fmt.Sprint(r.errorsOf(t, c)) }})
	writeColumns(w, r, cols, r.Opts.Conc, func(t string, c int) bool { return r.Cell(t, c) != nil })
}

// WriteGoals writes the costlb-against-goals table in Markdown (churn
// figures, and bulk's if measured).
func WriteGoals(w io.Writer, r *Results) {
	bulk := r.Opts.measures(loadBulk)
	fmt.Fprintf(w, "| concurrency | conn/s × ref (goal ≥ %.2f×) | p99 × ref (goal ≤ %.2f×) | proxy CPU/conn × ref |", goalConnRatio, goalP99Ratio)
	if bulk {
		fmt.Fprint(w, " bulk MB/s × ref |")
	}
	fmt.Fprint(w, "\n|---:|---:|---:|---:|")
	if bulk {
		fmt.Fprint(w, "---:|")
	}
	fmt.Fprintln(w)
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
		fmt.Fprintf(w, "| %d | %s%s | %s%s | %s |", c, fmtRatio(cr, ok1), s1, fmtRatio(pr, ok2), s2, fmtRatio(r.Ratio("costlb", c, mCPUc)))
		if bulk {
			fmt.Fprintf(w, " %s |", fmtRatio(r.Ratio("costlb", c, mMB)))
		}
		fmt.Fprintln(w)
	}
}

// WriteMarkdown writes docs/benchmarks.md: results, environment, method and
// how to run. svgRel is the chart's path relative to the Markdown file.
// Sections of loads the run did not measure are left out.
func WriteMarkdown(w io.Writer, r *Results, svgRel string) error {
	var b bytes.Buffer
	o := r.Opts
	mode := "full"
	if o.Quick {
		mode = "quick (indicative only)"
	}
	churn, bulk, rr := o.measures(loadChurn), o.measures(loadBulk), o.measures(loadReqResp)
	fmt.Fprintf(&b, "# Benchmarks: costlb against caddy-l4's `proxy` and HAProxy\n\n")
	fmt.Fprintf(&b, "<!-- Generated by `go run -C integration/cmd/loadbench .`. Edit the program, not this file. -->\n\n")
	fmt.Fprintf(&b, "TCP load through each proxy on loopback, side by side in one run: %s.\n\n", r.loadsMeasured())
	fmt.Fprintf(&b, "Last run: %s, `%s`, %s mode: rounds: %d × %v per measurement, %s in all.\n\n",
		r.Env.Date, o.Args, mode, r.RoundsDone, o.Window, r.Elapsed.Round(time.Second))
	if svgRel != "" && (churn || bulk) {
		fmt.Fprintf(&b, "![Ratios to caddy-l4 proxy (least_conn) per concurrency: connections per second, p99 latency and bulk throughput](%s)\n\n", svgRel)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(&b, "> %s\n\n", n)
	}

	fmt.Fprintf(&b, "## costlb's data path against its goals\n\n")
	fmt.Fprintf(&b, "costlb proxies connections itself (splice between plain sockets, pooled pipes and buffers only while data moves). ")
	fmt.Fprintf(&b, "Goals: resident memory per idle connection ≤ %.0f KiB; bulk throughput ≥ %.2f× HAProxy with forced splice at 1 and 16 streams, with proxy CPU per GB ≤ %.2f× its, ≥ %.2f× its at more streams, and ≥ %.2f× the goroutine engine's at every stream count; churn proxy CPU per connection ≤ %.2f× HAProxy's and ≤ %.2f× the minimal Go proxy's; connections per second ≥ %.2f× %s. ",
		goalIdleKiB, goalBulkVsSplice, goalCPUGBSplice, goalBulkAtScale, goalBulkVsEngine, goalChurnCPU, goalChurnCPUVsGo, goalConnBefore, r.beforeTarget())
	fmt.Fprintf(&b, "Ratios are medians of per-round ratios, as below.\n\n")
	WriteDataPathGoals(&b, r)
	if len(r.spikeMeasured()) > 0 {
		fmt.Fprintf(&b, "\n## The event loop against its goals\n\n")
		fmt.Fprintf(&b, "Event-loop data paths (%s): costlb with its default `data_path`, and the spike's two child targets that chose it. ", joinCode(spikeTargets))
		fmt.Fprintf(&b, "Goals: request/response requests per second ≥ %.2f× HAProxy's and p99 ≤ %.2f× its at every reqresp concurrency; resident memory per idle connection ≤ %.0f KiB; churn proxy CPU per connection ≤ %.2f× that of each goroutine data path (%s) at every churn concurrency. ",
			spikeReqVsHAProxy, spikeP99VsHAProxy, spikeIdleKiB, spikeChurnCPUVsPeer, joinCode(spikePeers))
		fmt.Fprintf(&b, "A row is there only where both sides were measured. Ratios are medians of per-round ratios, as below.\n\n")
		WriteSpikeGoals(&b, r)
	}
	if churn {
		fmt.Fprintf(&b, "\n## costlb against caddy-l4's proxy\n\n")
		fmt.Fprintf(&b, "The reference (\"ref\", 1.00×) is caddy-l4's own `proxy` handler with `lb_policy least_conn` over the same two backends. ")
		fmt.Fprintf(&b, "Targets: costlb ≥ %.2f× its connections per second and ≤ %.2f× its p99 latency, at every concurrency.\n\n", goalConnRatio, goalP99Ratio)
		WriteGoals(&b, r)
		if met, judged := r.GoalsMet(); judged {
			if met {
				fmt.Fprintf(&b, "\nVerdict: **met** at every concurrency in this run.\n")
			} else {
				fmt.Fprintf(&b, "\nVerdict: **not met** at every concurrency in this run. Rates and p99 move with the machine's other work; the proxy CPU per connection, which hardly does, is the check for a real cost (see Profile below).\n")
			}
		} else {
			fmt.Fprintf(&b, "\nVerdict: not judged (costlb or the reference was not measured).\n")
		}
	}

	if churn || bulk {
		fmt.Fprintf(&b, "\n## Results\n\n")
		fmt.Fprintf(&b, "Medians over %d rounds. \"× ref\" is the median over rounds of (target ÷ reference measured in the same round). ", r.RoundsDone)
		if churn {
			fmt.Fprintf(&b, "Latency is from the start of connect to the first echoed byte. ")
		}
		if bulk {
			fmt.Fprintf(&b, "MB/s is 10⁶ bytes echoed back to the clients per second (each byte crosses the proxy twice). ")
		}
		fmt.Fprintf(&b, "Proxy CPU is the user+system CPU time of the proxy process (Caddy, HAProxy or a child target, all threads, from /proc/PID/stat) per completed churn cycle and per GB (10⁹ bytes) echoed in bulk: the machine's other work slows every rate here, but hardly changes the CPU a proxy spends on one connection, so this is the steadiest comparison. ")
		if bulk {
			fmt.Fprintf(&b, "In bulk, though, part of the kernel's TCP receive work is charged to whichever process holds the receiving socket when the data comes, so a proxy that moves larger bursts is charged less and the backends and clients more: with costlb the echo backends and the clients used 40–50%% more CPU per GB than with HAProxy's forced splice in the same run, and proxy, backends and clients together within 10%% of each other; when the cores are busy, that sum, not the proxy's CPU alone, sets the throughput. ")
		}
		fmt.Fprintf(&b, "Errors are failed churn cycles plus failed bulk dials, summed over rounds.\n\n")
		WriteTable(&b, r)
	}
	if rr {
		fmt.Fprintf(&b, "\n## Request/response\n\n")
		fmt.Fprintf(&b, "Connections held open, each in a closed loop writing a %d-byte request and reading the %d-byte answer (the request echoed), as Redis or database clients do; medians over %d rounds, \"× ref\" as above. ", payloadSize, payloadSize, r.RoundsDone)
		fmt.Fprintf(&b, "req/s is answers received within the window per second, over all connections; latency is from writing a request to having read its whole answer; proxy CPU is the proxy process's CPU time per request answered, connection setup left out. ")
		fmt.Fprintf(&b, "Errors are failed dials and exchanges, summed over rounds.\n\n")
		WriteRRTable(&b, r)
	}
	if len(r.Pick) > 0 {
		fmt.Fprintf(&b, "\n## The pick\n\n")
		fmt.Fprintf(&b, "`BenchmarkPick` (`module/l4handler`), run before the load on the same machine: time per pick over pools of provisioned caddy-l4 upstreams (no health options), median of %d runs. `cost` is costlb's whole bookkeeping of a connection: the pick, its exact count taken and given back; `cost-weighted` the same with weights and slow start; `least_conn` and `random` are caddy-l4's selection policies, which count nothing (caddy-l4 v0.1.2 counts in its dial and never gives the count back).\n\n", pickRuns)
		WritePickTable(&b, r)
	}
	fmt.Fprintf(&b, "\n## Targets\n\n")
	for _, t := range r.Targets {
		fmt.Fprintf(&b, "- `%s`: %s\n", t, targetLabel[t])
	}
	if len(r.Idle) > 0 {
		fmt.Fprintf(&b, "\n## Idle connections\n\n")
		fmt.Fprintf(&b, "Resident memory (VmRSS) each connection adds to the proxy process while it is held open and idle, after echoing %d KiB; each target in a process of its own, started for this measurement. Goroutines per connection for Caddy targets (– where not counted: HAProxy has none, the child targets are not asked).\n\n", idlePayload>>10)
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

// loadsMeasured describes the loads of the run, for the report's opening.
func (r *Results) loadsMeasured() string {
	o := r.Opts
	var parts []string
	switch {
	case o.measures(loadChurn) && o.measures(loadBulk):
		parts = append(parts, fmt.Sprintf("connection churn (new connections per second, latency) and bulk throughput, at %s concurrent clients", joinInts(o.Conc)))
	case o.measures(loadChurn):
		parts = append(parts, fmt.Sprintf("connection churn (new connections per second, latency), at %s concurrent clients", joinInts(o.Conc)))
	case o.measures(loadBulk):
		parts = append(parts, fmt.Sprintf("bulk throughput, at %s concurrent clients", joinInts(o.Conc)))
	}
	if o.measures(loadReqResp) {
		parts = append(parts, fmt.Sprintf("small requests and answers on held connections (requests per second, latency), at %s connections", joinInts(o.RRConc)))
	}
	return strings.Join(parts, "; ")
}

// joinCode joins names as Markdown code.
func joinCode(names []string) string {
	s := make([]string, len(names))
	for i, n := range names {
		s[i] = "`" + n + "`"
	}
	return strings.Join(s, ", ")
}

func joinInts(xs []int) string {
	s := make([]string, len(xs))
	for i, x := range xs {
		s[i] = fmt.Sprint(x)
	}
	return strings.Join(s, ", ")
}
