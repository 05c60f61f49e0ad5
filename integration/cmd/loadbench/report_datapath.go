package main

import (
	"fmt"
	"io"
	"slices"
	"time"
)

// The data path's goals: costlb's own copy loop against HAProxy, and
// against the data path it replaced.
const (
	goalIdleKiB      = 16.0 // resident memory per idle held connection, at most
	moonshotIdleKiB  = 10.0
	goalBulkVsSplice = 1.10 // bulk MB/s >= 1.1x HAProxy with forced splice
	goalCPUGBSplice  = 1.00 // and proxy CPU per GB <= HAProxy's with forced splice
	goalChurnCPU     = 1.50 // churn CPU per connection <= 1.5x HAProxy's
	goalConnBefore   = 1.00 // conn/s >= the data path before
	// at every stream count beyond bulkGoalConcs, bulk MB/s >= HAProxy's
	// with forced splice; at every stream count, >= the goroutine engine's
	goalBulkAtScale  = 1.00
	goalBulkVsEngine = 1.00
	goalChurnCPUVsGo = 1.10 // churn CPU per connection <= 1.1x the minimal Go proxy's
)

// bulkGoalConcs are the stream counts of the bulk goals.
var bulkGoalConcs = []int{1, 16}

// idleOf returns the idle measurement of target.
func (r *Results) idleOf(target string) (IdleResult, bool) {
	for _, ir := range r.Idle {
		if ir.Target == target {
			return ir, true
		}
	}
	return IdleResult{}, false
}

// beforeTarget is what "today's" costlb is measured by: costlb-before when
// it ran, else caddy-l4's proxy, whose data path it was.
func (r *Results) beforeTarget() string {
	if slices.Contains(r.Targets, "costlb-before") {
		return "costlb-before"
	}
	return refTarget
}

// goalRow is one line of the data path goals table.
type goalRow struct {
	what, measured, goal string
	met                  bool
}

// dataPathGoals returns the data path goals that this run can judge.
func (r *Results) dataPathGoals() []goalRow {
	var rows []goalRow
	if ir, ok := r.idleOf("costlb"); ok {
		for _, p := range ir.Points {
			v := ir.PerConnKiB(p)
			rows = append(rows, goalRow{
				what:     fmt.Sprintf("resident memory per idle connection, %d held", p.Held),
				measured: fmt.Sprintf("%.1f KiB%s", v, r.idleOthers(p.Held)),
				goal:     fmt.Sprintf("≤ %.0f KiB (moonshot ≤ %.0f KiB)", goalIdleKiB, moonshotIdleKiB),
				met:      v <= goalIdleKiB,
			})
		}
	}
	for _, c := range bulkGoalConcs {
		if row, ok := r.bulkGoal(c, "haproxy-splice", "HAProxy forced splice", goalBulkVsSplice); ok {
			rows = append(rows, row)
		}
		if v, ok := r.RatioTo("costlb", "haproxy-splice", c, mCPUb); ok {
			cb, _ := r.Median("costlb", c, mCPUb)
			hb, _ := r.Median("haproxy-splice", c, mCPUb)
			rows = append(rows, goalRow{fmt.Sprintf("proxy CPU per GB ÷ HAProxy forced splice, %d stream(s)", c),
				fmt.Sprintf("%.2f× (%s vs %s)", v, fmtGB(cb), fmtGB(hb)), fmt.Sprintf("≤ %.2f×", goalCPUGBSplice), v <= goalCPUGBSplice})
		}
	}
	for _, c := range r.Opts.Conc {
		if slices.Contains(bulkGoalConcs, c) {
			continue
		}
		if row, ok := r.bulkGoal(c, "haproxy-splice", "HAProxy forced splice", goalBulkAtScale); ok {
			rows = append(rows, row)
		}
	}
	for _, c := range r.Opts.Conc {
		if row, ok := r.bulkGoal(c, "costlb-goroutines", "costlb-goroutines (the other engine)", goalBulkVsEngine); ok {
			rows = append(rows, row)
		}
	}
	for _, c := range r.Opts.Conc {
		if v, ok := r.RatioTo("costlb", "go-proxy", c, mCPUc); ok {
			cc, _ := r.Median("costlb", c, mCPUc)
			gc, _ := r.Median("go-proxy", c, mCPUc)
			floor := r.echoFloor(c)
			rows = append(rows, goalRow{fmt.Sprintf("churn proxy CPU per connection ÷ the minimal Go proxy, %d clients", c),
				fmt.Sprintf("%.2f× (%s vs %s%s)", v, fmtDur(time.Duration(cc)), fmtDur(time.Duration(gc)), floor), fmt.Sprintf("≤ %.2f×", goalChurnCPUVsGo), v <= goalChurnCPUVsGo})
		}
	}
	for _, c := range r.Opts.Conc {
		if v, ok := r.RatioTo("costlb", "haproxy", c, mCPUc); ok {
			cc, _ := r.Median("costlb", c, mCPUc)
			hc, _ := r.Median("haproxy", c, mCPUc)
			floor := r.echoFloor(c)
			if gc, ok := r.RatioTo("go-proxy", "haproxy", c, mCPUc); ok && gc > 0 {
				gm, _ := r.Median("go-proxy", c, mCPUc)
				floor += fmt.Sprintf("; a minimal Go proxy %s, %.2f× HAProxy", fmtDur(time.Duration(gm)), gc)
			}
			rows = append(rows, goalRow{fmt.Sprintf("churn proxy CPU per connection ÷ HAProxy, %d clients", c),
				fmt.Sprintf("%.2f× (%s vs %s%s)", v, fmtDur(time.Duration(cc)), fmtDur(time.Duration(hc)), floor), fmt.Sprintf("≤ %.2f×", goalChurnCPU), v <= goalChurnCPU})
		}
	}
	before := r.beforeTarget()
	for _, c := range r.Opts.Conc {
		if v, ok := r.RatioTo("costlb", before, c, mConn); ok {
			rows = append(rows, goalRow{fmt.Sprintf("conn/s ÷ %s, %d clients", before, c),
				fmt.Sprintf("%.2f×", v), fmt.Sprintf("≥ %.2f×", goalConnBefore), v >= goalConnBefore})
		}
	}
	return rows
}

// bulkGoal is the row of costlb's bulk MB/s against other's at c streams,
// with the goal ratio; false if either was not measured.
func (r *Results) bulkGoal(c int, other, name string, goal float64) (goalRow, bool) {
	v, ok := r.RatioTo("costlb", other, c, mMB)
	if !ok {
		return goalRow{}, false
	}
	mb, _ := r.Median("costlb", c, mMB)
	om, _ := r.Median(other, c, mMB)
	return goalRow{fmt.Sprintf("bulk MB/s ÷ %s, %d stream(s)", name, c),
		fmt.Sprintf("%.2f× (%.0f vs %.0f MB/s)", v, mb, om), fmt.Sprintf("≥ %.2f×", goal), v >= goal}, true
}

// echoFloor says what caddy-l4's echo handler alone spent per churn
// connection at c clients, if it was measured: the floor under any
// handler in caddy-l4.
func (r *Results) echoFloor(c int) string {
	if ec, ok := r.Median("l4-echo", c, mCPUc); ok && ec > 0 {
		return fmt.Sprintf("; caddy-l4's echo handler alone %s", fmtDur(time.Duration(ec)))
	}
	return ""
}

// idleOthers lists the other targets' memory per idle connection at held.
func (r *Results) idleOthers(held int) string {
	s := ""
	for _, ir := range r.Idle {
		if ir.Target == "costlb" {
			continue
		}
		if p, ok := ir.Point(held); ok {
			s += fmt.Sprintf("; %s %.1f", ir.Target, ir.PerConnKiB(p))
		}
	}
	return s
}

// WriteDataPathGoals writes the data path goals table in Markdown.
func WriteDataPathGoals(w io.Writer, r *Results) {
	rows := r.dataPathGoals()
	if len(rows) == 0 {
		fmt.Fprintln(w, "Not judged: costlb, HAProxy (with and without forced splice) or the idle measurement did not run.")
		return
	}
	fmt.Fprintln(w, "| goal | costlb (others) | target | met |")
	fmt.Fprintln(w, "|---|---|---|:---:|")
	for _, g := range rows {
		fmt.Fprintf(w, "| %s | %s | %s | %s |\n", g.what, g.measured, g.goal, check(g.met))
	}
}

// WriteIdleTable writes the idle memory table in Markdown.
func WriteIdleTable(w io.Writer, r *Results) {
	fmt.Fprint(w, "| target | RSS at start |")
	for _, n := range r.Opts.Idle {
		fmt.Fprintf(w, " per connection, %d held | goroutines per connection, %d held |", n, n)
	}
	fmt.Fprint(w, "\n|---|---:|")
	for range r.Opts.Idle {
		fmt.Fprint(w, "---:|---:|")
	}
	fmt.Fprintln(w)
	for _, ir := range r.Idle {
		fmt.Fprintf(w, "| %s | %.1f MiB |", ir.Target, float64(ir.BaseRSSKiB)/1024)
		for _, n := range r.Opts.Idle {
			p, ok := ir.Point(n)
			switch {
			case !ok:
				fmt.Fprint(w, " n/a | n/a |")
			case ir.GoroutinesPerConn(p) == 0 && ir.BaseGoroutines == 0:
				fmt.Fprintf(w, " %.1f KiB | – |", ir.PerConnKiB(p))
			default:
				fmt.Fprintf(w, " %.1f KiB | %.2f |", ir.PerConnKiB(p), ir.GoroutinesPerConn(p))
			}
		}
		fmt.Fprintln(w)
	}
	for _, ir := range r.Idle {
		if ir.Err != "" {
			fmt.Fprintf(w, "\n%s stopped early: %s\n", ir.Target, ir.Err)
		}
	}
}

// fmtGB formats a CPU time per MB as seconds per GB.
func fmtGB(perMB float64) string {
	return fmt.Sprintf("%.2f s/GB", perMB*1000/float64(time.Second))
}
