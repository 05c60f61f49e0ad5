package main

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"time"
)

// rounds measures every target with every load at every concurrency,
// Rounds times (fewer if the time budget runs out), and adds the samples
// to res. A round runs churn and bulk at each concurrency of Conc, then
// reqresp at each of RRConc.
func (r *runner) rounds(ctx context.Context, res *Results) error {
	opts := r.opts
	var roundTook time.Duration
	// the same orders every run; reqresp has its own, so that the churn
	// and bulk orders are those of runs without it
	rng, rrRng := rand.New(rand.NewPCG(1, 2)), rand.New(rand.NewPCG(3, 4))
	for round := range opts.Rounds {
		roundStart := time.Now()
		if opts.Budget > 0 && round > 0 && time.Since(res.Started)+roundTook > opts.Budget {
			note := fmt.Sprintf("Stopped after %d of %d rounds to stay within the %v time budget.", round, opts.Rounds, opts.Budget)
			r.logf("%s", note)
			res.Notes = append(res.Notes, note)
			break
		}
		res.RoundsDone = round + 1
		if opts.measures(loadChurn) || opts.measures(loadBulk) {
			if err := r.churnBulkRound(ctx, res, round, rng); err != nil {
				return err
			}
		}
		if opts.measures(loadReqResp) {
			if err := r.rrRound(ctx, res, round, rrRng); err != nil {
				return err
			}
		}
		// TIME_WAIT lasts 60 s, so one look per round sees any build-up; it
		// is not done per measurement because /proc/net/tcp can be long on
		// a busy machine.
		if tw := countTimeWait(r.ports()); tw > res.MaxTimeWait {
			res.MaxTimeWait = tw
		}
		roundTook = time.Since(roundStart)
	}
	return nil
}

// churnBulkRound measures churn and bulk of every target at every
// concurrency of Conc, in orders from rng.
func (r *runner) churnBulkRound(ctx context.Context, res *Results, round int, rng *rand.Rand) error {
	for _, c := range r.opts.Conc {
		for _, t := range shuffled(rng, res.Targets) {
			began := time.Now()
			s := r.measure(ctx, t, c)
			if err := ctx.Err(); err != nil {
				return err
			}
			addSample(res.Cells, t, c, s)
			r.logf("round %d/%d  c=%-3d %-15s %s  (%v)", round+1, r.opts.Rounds, c, t, r.churnBulkLog(s), time.Since(began).Round(time.Millisecond))
		}
	}
	return nil
}

// rrRound measures reqresp of every target at every concurrency of
// RRConc, in orders from rng: one window each, then a pause.
func (r *runner) rrRound(ctx context.Context, res *Results, round int, rng *rand.Rand) error {
	for _, c := range r.opts.RRConc {
		for _, t := range shuffled(rng, res.Targets) {
			began := time.Now()
			s := r.reqresp(ctx, r.addrs[t], r.pids[t], c, r.opts.Window)
			sleepCtx(ctx, r.opts.Pause)
			if err := ctx.Err(); err != nil {
				return err
			}
			addSample(res.RRCells, t, c, s)
			r.logf("round %d/%d  rr c=%-3d %-15s %7.0f req/s  p50 %7s  p99 %7s  cpu/req %6s  errors %d  (%v)",
				round+1, r.opts.Rounds, c, t, s.ReqPerSec, fmtDur(s.ReqP50), fmtDur(s.ReqP99), fmtDur(s.CPUPerReq), s.ReqErrors, time.Since(began).Round(time.Millisecond))
		}
	}
	return nil
}

// shuffled returns targets in a new order: each round and concurrency
// gets one, so no target always runs first or always right after the same
// other target (whose bulk measurement may leave garbage or closing
// sockets behind).
func shuffled(rng *rand.Rand, targets []string) []string {
	order := slices.Clone(targets)
	rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	return order
}

// addSample adds s to the cell of target t at concurrency c in cells.
func addSample(cells map[string]*Cell, t string, c int, s Sample) {
	cell := cells[cellKey(t, c)]
	if cell == nil {
		cell = &Cell{Target: t, Conc: c}
		cells[cellKey(t, c)] = cell
	}
	cell.Samples = append(cell.Samples, s)
}

// churnBulkLog is the progress line's account of a churn and bulk sample.
func (r *runner) churnBulkLog(s Sample) string {
	var parts []string
	if r.opts.measures(loadChurn) {
		parts = append(parts, fmt.Sprintf("%7.0f conn/s  p50 %7s  p99 %7s  cpu/conn %6s  errors %d", s.ConnPerSec, fmtDur(s.P50), fmtDur(s.P99), fmtDur(s.CPUPerConn), s.ConnErrors))
	}
	if r.opts.measures(loadBulk) {
		parts = append(parts, fmt.Sprintf("%7.1f MB/s  cpu/MB %6s  dial p99 %7s  errors %d", s.MBps, fmtDur(s.CPUPerMB), fmtDur(s.BulkDialP99), s.BulkErrors))
	}
	return strings.Join(parts, "  |")
}

// measure takes one churn and bulk sample of target t at concurrency c:
// churn, pause, bulk, pause (each load only if the run measures it), with
// the proxy's CPU time over each.
func (r *runner) measure(ctx context.Context, t string, c int) Sample {
	var s Sample
	if r.opts.measures(loadChurn) {
		cpu0 := procCPU(r.pids[t])
		s = r.churn(ctx, r.addrs[t], c, r.opts.Window)
		if cpu := procCPU(r.pids[t]) - cpu0; s.completed > 0 {
			s.CPUPerConn = cpu / time.Duration(s.completed)
		}
		sleepCtx(ctx, r.opts.Pause)
	}
	if r.opts.measures(loadBulk) {
		cpu0 := procCPU(r.pids[t])
		b := r.bulk(ctx, r.addrs[t], c, r.opts.Window)
		if cpu := procCPU(r.pids[t]) - cpu0; b.bulkBytes > 0 {
			s.CPUPerMB = time.Duration(float64(cpu) / (float64(b.bulkBytes) / 1e6))
		}
		s.MBps, s.BulkErrors = b.MBps, b.BulkErrors
		s.BulkDialP50, s.BulkDialP99 = b.BulkDialP50, b.BulkDialP99
		sleepCtx(ctx, r.opts.Pause)
	}
	return s
}
