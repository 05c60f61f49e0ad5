package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// The request/response results, and the event loop's goals.

// WriteRRTable writes the request/response results table in Markdown
// (nothing if reqresp was not measured).
func WriteRRTable(w io.Writer, r *Results) {
	if !r.Opts.measures(loadReqResp) {
		return
	}
	s := rrStats(r)
	cols := keyColumns("connections")
	cols = append(cols, s.rate("req/s", mReq), s.toRef("× ref", mReq), s.dur("p50", mRP50), s.dur("p99", mRP99), s.toRef("p99 × ref", mRP99))
	cols = append(cols, s.cost("proxy CPU/request", mCPUr, fmtCPUReq)...)
	cols = append(cols, column{"errors", "---:", func(t string, c int) string { return fmt.Sprint(r.rrErrorsOf(t, c)) }})
	writeColumns(w, r, cols, r.Opts.RRConc, func(t string, c int) bool { return r.RRCell(t, c) != nil })
}

// fmtCPUReq formats a CPU time per request, a few µs, with a decimal.
func fmtCPUReq(v float64) string {
	if d := time.Duration(v); d < 100*time.Microsecond {
		return fmt.Sprintf("%.1fµs", float64(d)/1e3)
	}
	return fmtDurF(v)
}

// spikeTargets are the event-loop data paths judged by the event loop's
// goals: costlb, whose default data path moves plain TCP connections to
// its loop, and the spike's two child targets that chose the loop
// (costlb's own, and nbio's); the section is written when one of them
// was measured.
var spikeTargets = []string{"costlb", "loop-proxy", "nbio-proxy"}

// spikePeers are the goroutine data paths the event loop's churn CPU is
// held to: the bare Go proxy, and costlb's own goroutine copy loop.
var spikePeers = []string{"go-proxy", "costlb-goroutines"}

// The event loop's goals: what an event-loop data path has to reach to
// be worth its code.
const (
	spikeReqVsHAProxy   = 1.00 // reqresp req/s >= HAProxy's
	spikeP99VsHAProxy   = 1.00 // reqresp p99 <= HAProxy's
	spikeIdleKiB        = 6.0  // resident memory per idle held connection, at most
	spikeChurnCPUVsPeer = 1.00 // churn CPU per connection <= go-proxy's and costlb-goroutines'
)

// spikeMeasured returns the spike targets of the run.
func (r *Results) spikeMeasured() []string {
	var ts []string
	for _, t := range spikeTargets {
		if slices.Contains(r.Targets, t) {
			ts = append(ts, t)
		}
	}
	return ts
}

// spikeGoals returns the event loop's goals for target t that this run
// can judge.
func (r *Results) spikeGoals(t string) []goalRow {
	var rows []goalRow
	for _, c := range r.Opts.RRConc {
		if v, ok := r.RRRatioTo(t, "haproxy", c, mReq); ok {
			a, _ := r.RRMedian(t, c, mReq)
			h, _ := r.RRMedian("haproxy", c, mReq)
			rows = append(rows, goalRow{fmt.Sprintf("reqresp req/s ÷ haproxy, %d connections", c),
				fmt.Sprintf("%.2f× (%.0f vs %.0f req/s)", v, a, h), fmt.Sprintf("≥ %.2f×", spikeReqVsHAProxy), v >= spikeReqVsHAProxy})
		}
	}
	for _, c := range r.Opts.RRConc {
		if v, ok := r.RRRatioTo(t, "haproxy", c, mRP99); ok {
			a, _ := r.RRMedian(t, c, mRP99)
			h, _ := r.RRMedian("haproxy", c, mRP99)
			rows = append(rows, goalRow{fmt.Sprintf("reqresp p99 ÷ haproxy, %d connections", c),
				fmt.Sprintf("%.2f× (%s vs %s)", v, fmtDurF(a), fmtDurF(h)), fmt.Sprintf("≤ %.2f×", spikeP99VsHAProxy), v <= spikeP99VsHAProxy})
		}
	}
	if ir, ok := r.idleOf(t); ok {
		for _, p := range ir.Points {
			v := ir.PerConnKiB(p)
			others := ""
			if h, ok := r.idleOf("haproxy"); ok {
				if hp, ok := h.Point(p.Held); ok {
					others = fmt.Sprintf(" (haproxy %.1f KiB)", h.PerConnKiB(hp))
				}
			}
			rows = append(rows, goalRow{fmt.Sprintf("resident memory per idle connection, %d held", p.Held),
				fmt.Sprintf("%.1f KiB%s", v, others), fmt.Sprintf("≤ %.0f KiB", spikeIdleKiB), v <= spikeIdleKiB})
		}
	}
	for _, c := range r.Opts.Conc {
		for _, peer := range spikePeers {
			if v, ok := r.RatioTo(t, peer, c, mCPUc); ok {
				a, _ := r.Median(t, c, mCPUc)
				p, _ := r.Median(peer, c, mCPUc)
				rows = append(rows, goalRow{fmt.Sprintf("churn proxy CPU per connection ÷ %s, %d clients", peer, c),
					fmt.Sprintf("%.2f× (%s vs %s)", v, fmtDurF(a), fmtDurF(p)), fmt.Sprintf("≤ %.2f×", spikeChurnCPUVsPeer), v <= spikeChurnCPUVsPeer})
			}
		}
	}
	return rows
}

// WriteSpikeGoals writes the event loop's goals in Markdown, a table per
// event-loop target measured (nothing if none was).
func WriteSpikeGoals(w io.Writer, r *Results) {
	for i, t := range r.spikeMeasured() {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "### %s\n\n", t)
		rows := r.spikeGoals(t)
		if len(rows) == 0 {
			fmt.Fprintf(w, "Not judged: reqresp with haproxy, the idle measurement, or churn with %s did not run alongside %s.\n", strings.Join(spikePeers, " or "), t)
			continue
		}
		fmt.Fprintln(w, "| goal | measured | target | met |")
		fmt.Fprintln(w, "|---|---|---|:---:|")
		for _, g := range rows {
			fmt.Fprintf(w, "| %s | %s | %s | %s |\n", g.what, g.measured, g.goal, check(g.met))
		}
	}
}
