package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The idle memory measurement: how much resident memory a proxy spends on
// a connection that moved some data and then sits idle, as a server with
// many mostly idle clients (databases, message brokers) sees it.
//
// Each proxy target runs in a process of its own, started for this alone
// (so no other target's garbage or pools are in its figure): after a
// warm-up, its resident set size (VmRSS) is taken, then connections are
// opened and held, each after echoing 64 KiB through the proxy, and the
// RSS is taken again once every count in Options.Idle is held. For Caddy,
// the goroutines are counted too (from its admin pprof endpoint); for
// HAProxy and the child targets they are not (0, shown as "–").

// idlePayload is what each held connection echoes before it goes idle.
const idlePayload = 64 << 10

// idleSettle is how long the proxy is left alone before each reading.
const idleSettle = 2 * time.Second

// idleTargets are the targets whose idle memory is measured, besides
// every child target.
var idleTargets = map[string]bool{"proxy-leastconn": true, "costlb-before": true, "costlb-goroutines": true, "costlb": true, "haproxy": true, "haproxy-splice": true}

// measuresIdle reports whether the idle phase measures target.
func measuresIdle(target string) bool { return idleTargets[target] || childTargets[target] != nil }

// IdleResult is one target's idle memory measurement.
type IdleResult struct {
	Target         string
	BaseRSSKiB     int64
	BaseGoroutines int // 0 when unknown (HAProxy, child targets)
	Points         []IdlePoint
	Err            string // why the measurement stopped early, if it did
}

// IdlePoint is the proxy's state with Held connections open and idle.
type IdlePoint struct {
	Held       int
	RSSKiB     int64
	Goroutines int
}

// PerConnKiB is the resident memory each held connection adds.
func (r IdleResult) PerConnKiB(p IdlePoint) float64 {
	return float64(p.RSSKiB-r.BaseRSSKiB) / float64(p.Held)
}

// GoroutinesPerConn is the goroutines each held connection adds (0 if
// not counted).
func (r IdleResult) GoroutinesPerConn(p IdlePoint) float64 {
	if r.BaseGoroutines == 0 || p.Goroutines == 0 {
		return 0
	}
	return float64(p.Goroutines-r.BaseGoroutines) / float64(p.Held)
}

// Point returns the point with held connections, if measured.
func (r IdleResult) Point(held int) (IdlePoint, bool) {
	for _, p := range r.Points {
		if p.Held == held {
			return p, true
		}
	}
	return IdlePoint{}, false
}

// idlePhase measures every idle target of res, one process at a time.
func (r *runner) idlePhase(ctx context.Context, res *Results) error {
	for _, t := range res.Targets {
		if !measuresIdle(t) {
			continue
		}
		ir, err := r.idleTarget(ctx, t)
		if err != nil {
			return fmt.Errorf("idle memory of %s: %w", t, err)
		}
		res.Idle = append(res.Idle, ir)
		for _, p := range ir.Points {
			g := "– goroutines/conn"
			if ir.BaseGoroutines > 0 {
				g = fmt.Sprintf("%.2f goroutines/conn", ir.GoroutinesPerConn(p))
			}
			r.logf("idle %-15s %5d held: %6.1f KiB/conn  %s", t, p.Held, ir.PerConnKiB(p), g)
		}
		if ir.Err != "" {
			r.logf("idle %-15s stopped: %s", t, ir.Err)
		}
	}
	return ctx.Err()
}

// idleTarget starts a process of its own for target and measures it.
func (r *runner) idleTarget(ctx context.Context, target string) (IdleResult, error) {
	res := IdleResult{Target: target}
	var p *proc
	var addr, admin string
	var err error
	switch {
	case childTargets[target] != nil:
		p, addr, err = r.startChildTarget(target, "idle-"+target)
	case target == "haproxy" || target == "haproxy-splice":
		p, addr, err = r.startHAProxy(target)
	default:
		bin := r.opts.CaddyBin
		if target == "costlb-before" {
			bin = r.opts.BeforeBin
		}
		var listen map[string]string
		p, listen, admin, err = r.startCaddyProc("idle-"+target, bin, []string{target})
		addr = listen[target]
	}
	if err != nil {
		return res, err
	}
	defer p.stop()
	pid := p.cmd.Process.Pid

	warm, err := holdConns(ctx, addr, 100)
	closeAll(warm)
	if err != nil {
		return res, fmt.Errorf("warm-up: %w", err)
	}
	sleepCtx(ctx, idleSettle)
	res.BaseRSSKiB, res.BaseGoroutines = procRSSKiB(pid), goroutines(admin)
	var held []net.Conn
	defer func() { closeAll(held) }()
	for _, n := range r.opts.Idle {
		more, err := holdConns(ctx, addr, n-len(held))
		held = append(held, more...)
		if err != nil {
			res.Err = fmt.Sprintf("after %d connections: %v", len(held), err)
			break
		}
		sleepCtx(ctx, idleSettle)
		if ctx.Err() != nil {
			return res, ctx.Err()
		}
		res.Points = append(res.Points, IdlePoint{Held: n, RSSKiB: procRSSKiB(pid), Goroutines: goroutines(admin)})
	}
	return res, nil
}

// holdConns opens n connections to addr, 16 at a time, each echoing
// idlePayload bytes before it is kept, and returns them open.
func holdConns(ctx context.Context, addr string, n int) ([]net.Conn, error) {
	var mu sync.Mutex
	var conns []net.Conn
	var firstErr error
	next := make(chan struct{}, n)
	for range n {
		next <- struct{}{}
	}
	close(next)
	payload := bytes.Repeat([]byte{'i'}, idlePayload)
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, idlePayload)
			d := net.Dialer{Timeout: opTimeout}
			for range next {
				c, err := echoOnce(ctx, d, addr, payload, buf)
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				if c != nil {
					conns = append(conns, c)
				}
				mu.Unlock()
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	return conns, firstErr
}

// echoOnce opens a connection, echoes payload through it and returns it
// open.
func echoOnce(ctx context.Context, d net.Dialer, addr string, payload, buf []byte) (net.Conn, error) {
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	_ = c.SetDeadline(time.Now().Add(4 * opTimeout))
	werr := make(chan error, 1)
	go func() {
		_, err := c.Write(payload)
		werr <- err
	}()
	_, err = io.ReadFull(c, buf)
	if e := <-werr; err == nil {
		err = e
	}
	if err != nil {
		closeReset(c)
		return nil, err
	}
	_ = c.SetDeadline(time.Time{})
	return c, nil
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		closeReset(c)
	}
}

// procRSSKiB returns the resident set size of process pid (0 if unknown).
func procRSSKiB(pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb
		}
	}
	return 0
}

// goroutines returns the goroutine count of the Caddy whose admin
// endpoint is admin (0 if admin is "" or it cannot be read).
func goroutines(admin string) int {
	if admin == "" {
		return 0
	}
	resp, err := (&http.Client{Timeout: opTimeout}).Get("http://" + admin + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	line, _ := bufio.NewReader(resp.Body).ReadString('\n')
	n, _ := strconv.Atoi(strings.TrimSpace(strings.TrimPrefix(line, "goroutine profile: total ")))
	return n
}
