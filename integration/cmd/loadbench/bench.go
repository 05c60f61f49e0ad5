package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

// targetOrder lists every target, in the order they are reported.
var targetOrder = []string{"direct", "l4-echo", "go-proxy", "loop-proxy", "nbio-proxy", "proxy-leastconn", "proxy-random", "costlb-before", "costlb-goroutines", "costlb", "haproxy", "haproxy-splice"}

// defaultTargets are the targets measured unless -targets says otherwise
// (costlb-before needs -caddy-before, and is added by it; go-proxy is
// measured only when asked for).
var defaultTargets = []string{"direct", "l4-echo", "go-proxy", "proxy-leastconn", "proxy-random", "costlb-goroutines", "costlb", "haproxy", "haproxy-splice"}

// childTargets are the targets served by this binary re-executed, a
// process of their own each (see children.go), by name. Adding one takes
// a file with its childServe function, its entry here, and its name in
// targetOrder, targetLabel and targetColor (report_svg.go). Each is
// started for the rounds and, in a process of its own, for the idle
// memory measurement.
var childTargets = map[string]childServe{
	"go-proxy":   serveGoProxyChild,
	"loop-proxy": serveLoopProxyChild,
	"nbio-proxy": serveNbioProxyChild,
}

// refTarget is the reference every ratio is computed against: caddy-l4's own
// proxy handler with lb_policy least_conn.
const refTarget = "proxy-leastconn"

// targetLabel describes each target for the report.
var targetLabel = map[string]string{
	"direct":            "direct to the east backend (no proxy: the limit)",
	"l4-echo":           "caddy-l4's `echo` handler, no backend: what accepting and routing a connection costs in caddy-l4, a floor for any layer4 handler",
	"go-proxy":          "a minimal Go TCP proxy to the east backend, no Caddy: accept, dial, `io.Copy` each way; what Go's net stack and runtime cost per proxied connection, a floor for any Caddy target",
	"loop-proxy":        "the event-loop spike: go-proxy's accept and dial, then costlb's own epoll loop per CPU (`module/evloop`) moves the bytes; no goroutine per connection",
	"nbio-proxy":        "the event-loop spike with github.com/lesismal/nbio v1.6.8's engine in place of costlb's loop",
	"proxy-leastconn":   "caddy-l4 `proxy`, `lb_policy least_conn` (reference)",
	"proxy-random":      "caddy-l4 `proxy`, `lb_policy random`",
	"costlb":            "costlb (east local, west at cost 5), default `data_path`: a connection with plain TCP legs, as all are here, moves to costlb's event loop (`module/evloop`) once its backend is dialed",
	"costlb-goroutines": "costlb with `data_path goroutines`: every connection on the goroutine copy loop (splice between plain sockets, pooled buffers), same config as costlb otherwise",
	"costlb-before":     "costlb as built by `-caddy-before` (the data path before this one: caddy-l4's proxy with costlb's pick), same config as costlb",
	"haproxy":           "HAProxy TCP mode, `balance leastconn`, west `backup`",
	"haproxy-splice":    "the same HAProxy config with `option splice-request` and `option splice-response` (kernel splicing forced)",
}

// Options configure a benchmark run.
type Options struct {
	CaddyBin   string        // Caddy with caddy-l4 and costlb; needed for Caddy targets
	BeforeBin  string        // Caddy with an earlier costlb, for costlb-before
	HAProxyBin string        // haproxy binary; "" when not installed
	Idle       []int         // connections held for the idle memory measurement, ascending; none: skipped
	Targets    []string      // subset of targetOrder
	Loads      []string      // of loadNames; none: churn and bulk (results saved before reqresp)
	Conc       []int         // client concurrencies of churn and bulk
	RRConc     []int         // connections of reqresp
	Rounds     int           // measurements per (target, concurrency, load)
	Window     time.Duration // length of one measurement
	Pause      time.Duration // idle time after each measurement
	Inproc     bool          // run the echo backends in this process
	Quick      bool          // for the report only
	Budget     time.Duration // if > 0, start no round that would end after it (at least one round runs)
	Args       string        // command line, for the report
	PickRoot   string        // repository root to run BenchmarkPick in first; "": not run
	Log        io.Writer     `json:"-"` // progress; nil for none
}

// The loads, as -loads names them.
const (
	loadChurn   = "churn"
	loadBulk    = "bulk"
	loadReqResp = "reqresp"
)

// loadNames lists every load, in the order each round runs them.
var loadNames = []string{loadChurn, loadBulk, loadReqResp}

// measures reports whether the run measures load.
func (o Options) measures(load string) bool {
	if len(o.Loads) == 0 {
		return load != loadReqResp
	}
	return slices.Contains(o.Loads, load)
}

// Sample is one measurement of one target at one concurrency: churn and
// bulk (a cell of Results.Cells), or request/response (Results.RRCells).
type Sample struct {
	ConnPerSec float64       // completed connect+echo+close cycles per second
	P50, P99   time.Duration // connect to first echoed byte
	ConnErrors int64
	MBps       float64 // echoed bytes received per second, in MB (1e6)
	BulkErrors int64
	// a new connection's connect to whole 64-byte echo while the bulk
	// streams run (dial latency under load)
	BulkDialP50, BulkDialP99 time.Duration `json:",omitempty"`

	// CPU time the proxy process (Caddy or HAProxy) used, per completed
	// churn cycle and per MB echoed in bulk; 0 for direct or off Linux.
	// Much less sensitive to other work on the machine than rates are.
	CPUPerConn time.Duration
	CPUPerMB   time.Duration

	// request/response: answers received within the window per second,
	// request-to-answer latency, failed dials and exchanges, and the
	// proxy's CPU time per answer (0 for direct or off Linux)
	ReqPerSec      float64       `json:",omitempty"`
	ReqP50, ReqP99 time.Duration `json:",omitempty"`
	ReqErrors      int64         `json:",omitempty"`
	CPUPerReq      time.Duration `json:",omitempty"`

	completed int64 // churn cycles completed, also after the window (not saved)
	bulkBytes int64 // bytes echoed during the whole bulk measurement (not saved)
}

// Cell holds every round's sample of a target at a concurrency.
type Cell struct {
	Target  string
	Conc    int
	Samples []Sample
}

// Results is everything a run measured.
type Results struct {
	Opts        Options
	Env         Env
	Targets     []string         // measured, in targetOrder
	Notes       []string         // skipped targets and similar
	Cells       map[string]*Cell // churn and bulk, by target and concurrency of Opts.Conc
	RRCells     map[string]*Cell `json:",omitempty"` // request/response, by target and concurrency of Opts.RRConc
	MaxTimeWait int              // TIME_WAIT sockets of the run's ports seen after a round, max
	Idle        []IdleResult     // memory per idle held connection, per target
	Pick        []PickResult     `json:",omitempty"` // BenchmarkPick, when Options.PickRoot is set
	RoundsDone  int
	Elapsed     time.Duration
	Started     time.Time
}

func cellKey(target string, conc int) string { return fmt.Sprintf("%s/%d", target, conc) }

// Cell returns the churn and bulk cell of target at conc, or nil.
func (r *Results) Cell(target string, conc int) *Cell { return r.Cells[cellKey(target, conc)] }

// RRCell returns the request/response cell of target at conc, or nil.
func (r *Results) RRCell(target string, conc int) *Cell { return r.RRCells[cellKey(target, conc)] }

// runner holds the state of one Run.
type runner struct {
	opts  Options
	dir   string
	mu    sync.Mutex
	procs []*proc
	echo  *echoPair
	caddy *proc
	// before is the Caddy serving costlb-before
	before *proc
	// children are the child targets' processes of the rounds, by target
	children map[string]*proc
	addrs    map[string]string // target -> address the clients dial
	pids     map[string]int    // target -> proxy process, for CPU accounting
}

func (r *runner) logf(format string, args ...any) {
	if r.opts.Log != nil {
		fmt.Fprintf(r.opts.Log, format+"\n", args...)
	}
}

// Run starts the backends, Caddy and HAProxy as needed, measures every
// target with every load at every concurrency, Rounds times in
// alternation, and stops every process it started before returning (also
// when ctx is cancelled).
func Run(ctx context.Context, opts Options) (*Results, error) {
	if err := opts.check(); err != nil {
		return nil, err
	}
	res := &Results{Opts: opts, Cells: make(map[string]*Cell), RRCells: make(map[string]*Cell), Started: time.Now()}
	r := &runner{opts: opts, addrs: make(map[string]string), pids: make(map[string]int), children: make(map[string]*proc)}
	var err error
	if r.dir, err = os.MkdirTemp("", "loadbench-"); err != nil {
		return nil, err
	}
	defer r.cleanup()

	if opts.PickRoot != "" {
		if res.Pick, err = runPickBench(ctx, opts.PickRoot, opts.Log); err != nil {
			return nil, err
		}
	}
	want, err := r.chooseTargets(res)
	if err != nil {
		return nil, err
	}
	if err := r.startAll(res, want); err != nil {
		return nil, err
	}
	res.Env = collectEnv(opts)
	if len(opts.Idle) > 0 {
		if err := r.idlePhase(ctx, res); err != nil {
			return nil, err
		}
	}
	if err := r.warmUp(ctx, res); err != nil {
		return nil, err
	}
	if err := r.rounds(ctx, res); err != nil {
		return nil, err
	}
	if r.caddy != nil && r.caddy.exited() {
		return nil, fmt.Errorf("caddy exited during the run (%v); log:\n%s", r.caddy.err, r.caddy.logTail())
	}
	for t, p := range r.children {
		if p.exited() {
			return nil, fmt.Errorf("%s exited during the run (%v); log:\n%s", t, p.err, p.logTail())
		}
	}
	res.Elapsed = time.Since(res.Started)
	res.Env.LoadAvgEnd = readTrim("/proc/loadavg")
	return res, nil
}

// check checks the options Run needs.
func (o Options) check() error {
	if o.Rounds < 1 || o.Window <= 0 {
		return fmt.Errorf("loadbench: need rounds >= 1 (have %d) and a positive window (have %v)", o.Rounds, o.Window)
	}
	for _, l := range o.Loads {
		if !slices.Contains(loadNames, l) {
			return fmt.Errorf("loadbench: unknown load %q; loads: %s", l, strings.Join(loadNames, ","))
		}
	}
	if (o.measures(loadChurn) || o.measures(loadBulk)) && len(o.Conc) == 0 {
		return errors.New("loadbench: churn and bulk need at least one concurrency (-conc)")
	}
	if o.measures(loadReqResp) && len(o.RRConc) == 0 {
		return errors.New("loadbench: reqresp needs at least one concurrency (-rr-conc)")
	}
	return nil
}

// chooseTargets checks the options' targets, leaves out HAProxy's if it is
// not installed (with a note), sets res.Targets in report order and
// returns them as a set.
func (r *runner) chooseTargets(res *Results) (map[string]bool, error) {
	opts := r.opts
	want := make(map[string]bool)
	for _, t := range opts.Targets {
		if !slices.Contains(targetOrder, t) {
			return nil, fmt.Errorf("unknown target %q; targets: %s", t, strings.Join(targetOrder, ","))
		}
		want[t] = true
	}
	if (want["haproxy"] || want["haproxy-splice"]) && opts.HAProxyBin == "" {
		r.logf("haproxy not installed: apt-get install haproxy")
		res.Notes = append(res.Notes, "HAProxy was skipped: haproxy not installed (apt-get install haproxy).")
		delete(want, "haproxy")
		delete(want, "haproxy-splice")
	}
	if want["costlb-before"] && opts.BeforeBin == "" {
		return nil, errors.New("loadbench: target costlb-before needs -caddy-before")
	}
	for _, t := range targetOrder {
		if want[t] {
			res.Targets = append(res.Targets, t)
		}
	}
	if len(res.Targets) == 0 {
		return nil, errors.New("loadbench: no target to measure")
	}
	return want, nil
}

// startAll starts the echo backends and every proxy the targets need, and
// records the address each target's clients dial and its proxy process.
func (r *runner) startAll(res *Results, want map[string]bool) error {
	opts := r.opts
	var err error
	if opts.Inproc {
		r.echo, err = startEchoInProcess()
	} else {
		r.echo, err = startEchoChild(r)
	}
	if err != nil {
		return err
	}
	r.logf("echo backends (%s): east %s, west %s", map[bool]string{true: "in process", false: "child process"}[opts.Inproc], r.echo.addrs[0], r.echo.addrs[1])
	r.addrs["direct"] = r.echo.addrs[0]

	needCaddy := false
	for _, t := range res.Targets {
		needCaddy = needCaddy || caddyTargets[t]
	}
	if needCaddy {
		if opts.CaddyBin == "" {
			return errors.New("loadbench: no Caddy binary")
		}
		listen, admin, err := r.startCaddy(res.Targets)
		if err != nil {
			return err
		}
		for t, a := range listen {
			r.addrs[t] = a
			r.pids[t] = r.caddy.cmd.Process.Pid
		}
		r.logf("caddy (pid %d): admin http://%s (pprof: go tool pprof 'http://%s/debug/pprof/profile?seconds=10')", r.caddy.cmd.Process.Pid, admin, admin)
	}
	if want["costlb-before"] {
		p, listen, _, err := r.startCaddyProc("caddy-before", opts.BeforeBin, []string{"costlb-before"})
		if err != nil {
			return err
		}
		r.before = p
		r.addrs["costlb-before"], r.pids["costlb-before"] = listen["costlb-before"], p.cmd.Process.Pid
	}
	for _, t := range res.Targets {
		if childTargets[t] == nil {
			continue
		}
		p, a, err := r.startChildTarget(t, t)
		if err != nil {
			return err
		}
		r.children[t] = p
		r.addrs[t], r.pids[t] = a, p.cmd.Process.Pid
		r.logf("%s (pid %d): %s", t, p.cmd.Process.Pid, a)
	}
	for _, t := range []string{"haproxy", "haproxy-splice"} {
		if want[t] {
			p, a, err := r.startHAProxy(t)
			if err != nil {
				return err
			}
			r.addrs[t], r.pids[t] = a, p.cmd.Process.Pid
			r.logf("%s: %s", t, a)
		}
	}
	return nil
}

// warmUp runs a short churn through every target; a target that echoes
// nothing is an error.
func (r *runner) warmUp(ctx context.Context, res *Results) error {
	for _, t := range res.Targets {
		w := min(r.opts.Window/2, 300*time.Millisecond)
		s := r.churn(ctx, r.addrs[t], 16, max(w, 50*time.Millisecond))
		if err := ctx.Err(); err != nil {
			return err
		}
		if s.ConnPerSec == 0 {
			return fmt.Errorf("warm-up: target %s (%s) completed no connection (%d errors)%s", t, r.addrs[t], s.ConnErrors, r.caddyLog(t))
		}
	}
	return nil
}

func (r *runner) caddyLog(target string) string {
	if caddyTargets[target] && r.caddy != nil {
		return "; caddy log:\n" + r.caddy.logTail()
	}
	if target == "costlb-before" && r.before != nil {
		return "; caddy log:\n" + r.before.logTail()
	}
	if p := r.children[target]; p != nil {
		return "; " + target + " log:\n" + p.logTail()
	}
	return ""
}
