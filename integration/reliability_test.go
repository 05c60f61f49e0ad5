package integration

// Fault tests: real Caddy processes built from this tree, real TCP backends
// and clients on 127.0.0.1, exact outcomes. The CI run takes about 25 s;
// `go test ./integration/ -run Reliability -long` runs the longer variants
// (5 failover cycles, 50,000 connections, 1,500 held, a 30 s speed run).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/costlb/costlb/costlb/costlbtest"
	"github.com/costlb/costlb/integration/harness"
)

// ---------------------------------------------------------------------------
// 1. Failover under load

// TestReliabilityFailover kills a service's only local backend while 32
// clients open short connections, restarts it, and checks failover to the
// cost-9999 backup and failback, with passive health checks plus retries
// (zero failed connections) and with active health checks alone (failover
// within health_interval + health_timeout).
func TestReliabilityFailover(t *testing.T) {
	t.Run("passive", func(t *testing.T) { runFailover(t, false) })
	t.Run("active", func(t *testing.T) { runFailover(t, true) })
}

const (
	foWorkers      = 32
	foFailDuration = time.Second
	foInterval     = 100 * time.Millisecond
	// foTimeout is health_timeout: a stopped backend refuses at once, so
	// it only bounds how long a check may stall on a loaded machine
	// before it wrongly marks a running backend down.
	foTimeout = 500 * time.Millisecond
	// foMargin is the scheduling margin of the documented failover bound
	// (health_interval + health_timeout) on a shared, loaded machine.
	foMargin = 500 * time.Millisecond
	// foPause is each client's pause between connections: ~2,000
	// connections a second in all, a few thousand per run.
	foPause = 10 * time.Millisecond
	// foPhaseConns is how many connections each phase must see.
	foPhaseConns = 300
)

func runFailover(t *testing.T, active bool) {
	primary := harness.StartBackend(t, "primary")
	backup := harness.StartBackend(t, "backup")
	listen := harness.FreeAddr(t)

	health := fmt.Sprintf("fail_duration %v\nlb_try_duration 2s\nlb_try_interval 20ms", foFailDuration)
	failbackAfter := foFailDuration + time.Second // the last failure is forgotten fail_duration after it
	if active {
		health = fmt.Sprintf("health_interval %v\nhealth_timeout %v", foInterval, foTimeout)
		failbackAfter = foInterval + foTimeout + time.Second
	}
	cfg := costlbCaddyfile("site east\nlink east west 9999", l4Route{listen, fmt.Sprintf(`costlb {
		name svc
		backend east %s
		backend west %s
		%s
	}`, primary.Addr(), backup.Addr(), health)})
	c := harness.StartCaddy(t, cfg, "caddyfile")

	if name, err := harness.Once(listen, relTimeout); err != nil || name != "primary" {
		t.Fatalf("first connection: %q, %v; want the primary", name, err)
	}

	cycles := 1
	if *reliabilityLong {
		cycles = 5
	}
	var total, inflightFailed, windowFailed, prevStalls int
	var slowest time.Duration // the longest connection: shows machine stalls
	var failoverTimes []time.Duration
	for cycle := 1; cycle <= cycles; cycle++ {
		g := startShortLoad(listen, foWorkers, foPause)
		t.Cleanup(func() { g.Stop() })
		waitConns := func(n int, from time.Time, what string) {
			t.Helper()
			harness.WaitFor(t, 60*time.Second, func() bool {
				return g.count(func(r connRec) bool { return !r.start.Before(from) }) >= n
			}, fmt.Sprintf("cycle %d: fewer than %d connections %s", cycle, n, what))
		}

		// up: the primary takes everything
		waitConns(foPhaseConns, time.Now(), "before the kill")
		killAt := time.Now()
		primary.Stop()
		stopDone := time.Now()

		// down: every connection started after the kill must reach the
		// backup (passive: with zero failures); keep the primary down past
		// fail_duration so failures expire and are counted again meanwhile
		if active { // failing connections are quick: wait for detection
			harness.WaitFor(t, 30*time.Second, func() bool {
				return g.count(func(r connRec) bool { return !r.start.Before(stopDone) && r.name == "backup" }) >= foPhaseConns
			}, fmt.Sprintf("cycle %d: fewer than %d connections reached the backup after the kill", cycle, foPhaseConns))
		}
		waitConns(foPhaseConns, stopDone, "while the primary is down")
		if !active {
			if d := time.Until(stopDone.Add(foFailDuration + 300*time.Millisecond)); d > 0 {
				time.Sleep(d)
			}
		} else {
			v := mustView(t, c)
			s := mustService(t, v, "svc")
			if b := mustBackend(t, s, primary.Addr()); b.Healthy || b.Available || s.PrimarySite != "west" {
				t.Errorf("cycle %d: with the primary down GET /costlb/ shows primary healthy=%t available=%t, primary_site %q; want false, false, west",
					cycle, b.Healthy, b.Available, s.PrimarySite)
			}
		}
		restartAt := time.Now()
		primary.Restart()
		restartDone := time.Now()

		// back up: after the failure is forgotten (passive) or the next
		// check (active), every new connection returns to the primary
		backAt := restartDone.Add(failbackAfter)
		waitConns(foPhaseConns, backAt, "after failback")
		recs := g.Stop()

		var firstBackup time.Time // earliest greeting from the backup after the kill
		for _, r := range recs {
			if r.err == nil && r.name == "backup" && r.end.After(killAt) && (firstBackup.IsZero() || r.end.Before(firstBackup)) {
				firstBackup = r.end
			}
		}
		if firstBackup.IsZero() {
			t.Fatalf("cycle %d: no connection reached the backup after the kill", cycle)
		}
		failover := firstBackup.Sub(killAt)
		failoverTimes = append(failoverTimes, failover)
		for _, r := range recs {
			slowest = max(slowest, r.end.Sub(r.start))
		}

		// active checks that timed out against a running backend (a
		// stopped one refuses at once): the checker marked it down though
		// it was up, so routing that follows that verdict is tolerated
		stalls := len(healthTimeouts(c.Logs(), primary.Addr())) + len(healthTimeouts(c.Logs(), backup.Addr()))
		var before, inflight, inflightFail, afterKill, afterKillFail, down, downBackup, detectFail, back, backPrimary, postRestartFail, tolerated int
		var examples []string
		bad := func(format string, args ...any) {
			if stalls > prevStalls {
				tolerated++
				return
			}
			if len(examples) < 5 {
				examples = append(examples, fmt.Sprintf(format, args...))
			}
		}
		for _, r := range recs {
			switch {
			case r.end.Before(killAt):
				before++
				if r.err != nil || r.name != "primary" {
					bad("before the kill: %q, %v", r.name, r.err)
				}
				continue
			case r.start.Before(stopDone):
				// in flight while the primary was being stopped: a
				// connection proxied to it is cut, as a real crash would
				inflight++
				if r.err != nil {
					inflightFail++
				}
				continue
			}
			afterKill++
			if r.err != nil {
				afterKillFail++
				if active && r.start.Before(firstBackup) && r.end.Before(restartAt) {
					detectFail++ // active only: dialled the primary before detection, no retry
				} else {
					bad("started %v after the kill: %v", r.start.Sub(killAt), r.err)
				}
			}
			if !r.start.Before(restartDone) && r.err != nil && stalls == prevStalls {
				postRestartFail++
			}
			// while the primary is down: passive, from the kill on; active,
			// from detection on (the first greeting from the backup)
			downFrom := stopDone
			if active {
				downFrom = firstBackup
			}
			if !r.start.Before(downFrom) && r.end.Before(restartAt) {
				down++
				if r.err == nil && r.name == "backup" {
					downBackup++
				} else {
					bad("started %v after the kill while the primary was down: %q, %v", r.start.Sub(killAt), r.name, r.err)
				}
			}
			if r.start.After(backAt) {
				back++
				if r.err == nil && r.name == "primary" {
					backPrimary++
				} else {
					bad("started %v after the restart: %q, %v", r.start.Sub(restartDone), r.name, r.err)
				}
			}
		}
		if stalls > prevStalls {
			t.Logf("cycle %d: %d active health checks of a running backend timed out (machine overloaded); %d connection outcomes that follow such a verdict were tolerated",
				cycle, stalls-prevStalls, tolerated)
		}
		prevStalls = stalls
		total += len(recs)
		inflightFailed += inflightFail
		windowFailed += detectFail
		t.Logf("cycle %d (%s): %d connections (%d before the kill, %d in flight at the kill of which %d failed, %d started after the kill of which %d failed); "+
			"down: %d/%d to the backup; failover after %v; failback: %d/%d to the primary from %v after the restart; failures after the restart: %d",
			cycle, variant(active), len(recs), before, inflight, inflightFail, afterKill, afterKillFail,
			downBackup, down, failover.Round(time.Millisecond), backPrimary, back, failbackAfter, postRestartFail)
		if len(examples) > 0 {
			t.Errorf("cycle %d: unexpected outcomes, e.g. %s", cycle, strings.Join(examples, "; "))
		}
		if down == 0 || back == 0 || before == 0 {
			t.Errorf("cycle %d: a phase saw no connections: before %d, down %d, back %d", cycle, before, down, back)
		}
		if !active && afterKillFail-tolerated > 0 {
			t.Errorf("cycle %d: %d connections started after the kill failed; want 0 (passive checks + lb_try_duration)", cycle, afterKillFail)
		}
		if postRestartFail != 0 {
			t.Errorf("cycle %d: %d connections started after the restart failed; want 0", cycle, postRestartFail)
		}
		if bound := foInterval + foTimeout + foMargin; active && failover > bound {
			t.Errorf("cycle %d: failover took %v; want at most health_interval + health_timeout + %v margin = %v", cycle, failover, foMargin, bound)
		}
	}

	// the shift was logged: failover east -> west, failback west -> east
	logs := shiftLogs(c.Logs(), "svc")
	var failovers, failbacks int
	for _, l := range logs {
		switch {
		case l.Msg == "costlb failover" && l.From == "east" && l.To == "west" && l.Reason == "backends in east became unavailable":
			failovers++
		case l.Msg == "costlb failback" && l.From == "west" && l.To == "east":
			failbacks++
		default:
			t.Errorf("unexpected shift log line: %+v", l)
		}
	}
	if failovers == 0 || failbacks == 0 || logs[len(logs)-1].Msg != "costlb failback" {
		t.Errorf("shift logs: %d failovers, %d failbacks, last %+v; want both, ending with a failback", failovers, failbacks, logs)
	}
	if active && prevStalls == 0 && (failovers != cycles || failbacks != cycles) {
		// active checks only: the primary is down from detection to the
		// restart, so the primary site changes exactly twice per cycle
		t.Errorf("active checks: %d failover and %d failback log lines; want %d each", failovers, failbacks, cycles)
	}
	v := waitAllLiveZero(t, c, relTimeout)
	if s := mustService(t, v, "svc"); s.PrimarySite != "east" {
		t.Errorf("primary_site after failback = %q, want east", s.PrimarySite)
	}
	t.Logf("FIGURES failover/%s: %d cycles, %d connections, %d failed in flight at the kill, %d failed in the detection window, failover times %v (bound %v), shift logs %d failover / %d failback, slowest connection %v",
		variant(active), cycles, total, inflightFailed, windowFailed, failoverTimes, boundFor(active), failovers, failbacks, slowest.Round(time.Millisecond))
}

func variant(active bool) string {
	if active {
		return "active health checks only"
	}
	return "passive health checks + lb_try_duration"
}

func boundFor(active bool) string {
	if active {
		return (foInterval + foTimeout + foMargin).String()
	}
	return "none (retried within lb_try_duration)"
}

// ---------------------------------------------------------------------------
// 2. Exact live counts

// TestReliabilityExactLiveCounts drives 10,000 connections (client aborts,
// backends resetting mid-stream, dials to a dead backend with and without
// retries, long holders) while polling GET /costlb/, and checks that live
// counts never go negative and end at exactly 0; then that max_connections
// caps concurrency without refusing sequential connections, unlike caddy-l4's
// own proxy.
func TestReliabilityExactLiveCounts(t *testing.T) {
	a1 := harness.StartBackend(t, "a1")
	a2 := harness.StartBackend(t, "a2", harness.WithResetAfter(64))
	dead := harness.StartBackend(t, "dead")
	dead.Stop() // its address now refuses connections
	b1 := harness.StartBackend(t, "b1")
	m1 := harness.StartBackend(t, "m1")
	m2 := harness.StartBackend(t, "m2")
	m3 := harness.StartBackend(t, "m3")
	p1 := harness.StartBackend(t, "p1")
	la, lb, lc, ld, lp := harness.FreeAddr(t), harness.FreeAddr(t), harness.FreeAddr(t), harness.FreeAddr(t), harness.FreeAddr(t)

	cfg := costlbCaddyfile("site east\nlink east west 5",
		l4Route{la, fmt.Sprintf(`costlb {
			name mix
			backend east %s %s %s
			fail_duration 200ms
			lb_try_duration 3s
			lb_try_interval 10ms
		}`, a1.Addr(), a2.Addr(), dead.Addr())},
		l4Route{lb, fmt.Sprintf(`costlb {
			name notry
			backend east %s %s
		}`, b1.Addr(), dead.Addr())},
		l4Route{lc, fmt.Sprintf(`costlb {
			name capped
			backend east %s {
				max_connections 2
			}
			backend west %s
		}`, m1.Addr(), m2.Addr())},
		l4Route{ld, fmt.Sprintf(`costlb {
			name capped-alone
			backend east %s {
				max_connections 2
			}
		}`, m3.Addr())},
		l4Route{lp, fmt.Sprintf(`proxy {
			upstream %s {
				max_connections 2
			}
		}`, p1.Addr())},
	)
	c := harness.StartCaddy(t, cfg, "caddyfile")

	t.Run("mixed", func(t *testing.T) {
		total := 10000
		if *reliabilityLong {
			total = 50000
		}
		const workers, holders, perHolder = 24, 8, 5
		holdFor := time.Second
		jobs := int64(total - holders*perHolder)

		var (
			shortA, abortA, echoA, echoReset, shortB, okB, failB, held atomic.Int64
			greetA1, greetA2                                           atomic.Int64
			mu                                                         sync.Mutex
			unexpected                                                 []string
			nUnexpected                                                atomic.Int64
		)
		fail := func(format string, args ...any) {
			nUnexpected.Add(1)
			mu.Lock()
			if len(unexpected) < 10 {
				unexpected = append(unexpected, fmt.Sprintf(format, args...))
			}
			mu.Unlock()
		}
		greetA := func(name string) bool {
			switch name {
			case "a1":
				greetA1.Add(1)
			case "a2":
				greetA2.Add(1)
			default:
				return false
			}
			return true
		}

		poller := startLivePoller(c, 20*time.Millisecond)
		t.Cleanup(poller.Stop)
		start := time.Now()
		var next atomic.Int64
		var wg sync.WaitGroup
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				payload := make([]byte, 128)
				for {
					i := next.Add(1) - 1
					if i >= jobs {
						return
					}
					switch i % 10 {
					case 0, 1, 2: // short: greeting, close
						shortA.Add(1)
						name, err := harness.Once(la, relTimeout)
						if err != nil || !greetA(name) {
							fail("short connection to mix: %q, %v", name, err)
							continue
						}
					case 3, 4: // client abort right after connect: FIN, or RST
						abortA.Add(1)
						conn, err := net.DialTimeout("tcp", la, relTimeout)
						if err != nil {
							fail("abort: dial: %v", err)
							continue
						}
						if i%10 == 4 {
							_ = conn.(*net.TCPConn).SetLinger(0)
						}
						_ = conn.Close()
					case 5, 6: // echo; a2 resets after 64 bytes
						echoA.Add(1)
						name, conn, err := harness.Hold(la, relTimeout)
						if err != nil || !greetA(name) {
							fail("echo connection to mix: %q, %v", name, err)
							continue
						}
						fillPayload(payload, uint64(i), 1)
						_ = conn.SetDeadline(time.Now().Add(relTimeout))
						_, werr := conn.Write(payload)
						if name == "a1" {
							got := make([]byte, len(payload))
							if _, err := io.ReadFull(conn, got); werr != nil || err != nil || !bytes.Equal(got, payload) {
								fail("echo via a1: write %v, read %v", werr, err)
							}
						} else {
							got, err := io.ReadAll(conn) // ends with EOF or a reset
							var ne net.Error
							if errors.As(err, &ne) && ne.Timeout() {
								fail("echo via a2 (reset after 64 bytes): connection did not end: %v", err)
							} else if len(got) > 64 || !bytes.Equal(got, payload[:len(got)]) {
								fail("echo via a2 (reset after 64 bytes): got %d bytes, want a prefix of at most 64", len(got))
							} else {
								echoReset.Add(1)
							}
						}
						_ = conn.Close()
					default: // the service without retries: a dial to the dead backend fails
						shortB.Add(1)
						name, err := harness.Once(lb, relTimeout)
						switch {
						case err == nil && name == "b1":
							okB.Add(1)
						case err != nil && isRefused(err):
							failB.Add(1)
						default:
							fail("connection to notry: %q, %v", name, err)
						}
					}
				}
			}()
		}
		for h := range holders {
			wg.Add(1)
			go func() {
				defer wg.Done()
				payload := make([]byte, 256)
				for k := range perHolder {
					held.Add(1)
					name, conn, err := harness.Hold(la, relTimeout)
					if err != nil || !greetA(name) {
						fail("holder: %q, %v", name, err)
						continue
					}
					if name == "a2" {
						time.Sleep(holdFor) // a2 would reset once it echoed 64 bytes: just hold
					}
					for end := time.Now().Add(holdFor); name == "a1" && time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
						fillPayload(payload, uint64(h*1000+k), uint64(time.Now().UnixNano()))
						if err := harness.EchoCheck(conn, payload); err != nil {
							fail("holder via %s: %v", name, err)
							break
						}
					}
					_ = conn.Close()
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start)
		v := waitAllLiveZero(t, c, 15*time.Second)
		poller.Stop()

		conns := shortA.Load() + abortA.Load() + echoA.Load() + shortB.Load() + held.Load()
		mix, notry := mustService(t, v, "mix"), mustService(t, v, "notry")
		ma1, ma2, mdead := mustBackend(t, mix, a1.Addr()), mustBackend(t, mix, a2.Addr()), mustBackend(t, mix, dead.Addr())
		nb1, ndead := mustBackend(t, notry, b1.Addr()), mustBackend(t, notry, dead.Addr())
		t.Logf("FIGURES live counts: %d connections in %v (%d short, %d client aborts, %d echo of which %d reset by a2, %d held %v, %d to the no-retry service: %d ok, %d refused after a dead dial); "+
			"%d unexpected failures; dead backend dialled %d times by mix (retried) and %d times by notry; %d polls of GET /costlb/ (%d errors), lowest live count seen %d, highest %d",
			conns, elapsed.Round(time.Millisecond), shortA.Load(), abortA.Load(), echoA.Load(), echoReset.Load(), held.Load(), holdFor,
			shortB.Load(), okB.Load(), failB.Load(), nUnexpected.Load(), mdead.Total, ndead.Total, poller.polls, poller.errs, poller.low, poller.high)

		if conns != int64(total) {
			t.Errorf("ran %d connections, want %d", conns, total)
		}
		if n := nUnexpected.Load(); n != 0 {
			t.Errorf("%d unexpected client outcomes, e.g. %s", n, strings.Join(unexpected, "; "))
		}
		if poller.low < 0 {
			t.Errorf("GET /costlb/ showed a negative live count (%d): %v", poller.low, poller.lowWhere)
		}
		if poller.polls < 10 {
			t.Errorf("only %d polls of GET /costlb/ during the run (%d errors, last %v)", poller.polls, poller.errs, poller.lastErr)
		}
		// every connection to mix was placed on a1 or a2 in the end, dead
		// dials were retried there; the backends accepted exactly the picks
		if got, want := ma1.Total+ma2.Total, uint64(shortA.Load()+abortA.Load()+echoA.Load()+held.Load()); got != want {
			t.Errorf("mix: a1+a2 connections_total = %d, want one per connection = %d", got, want)
		}
		if mdead.Total == 0 {
			t.Errorf("mix never dialled the dead backend: the retry path was not exercised")
		}
		if uint64(a1.Accepted()) != ma1.Total || uint64(a2.Accepted()) != ma2.Total {
			t.Errorf("backends accepted a1 %d, a2 %d; mix picked a1 %d, a2 %d", a1.Accepted(), a2.Accepted(), ma1.Total, ma2.Total)
		}
		if uint64(greetA1.Load()) > ma1.Total || uint64(greetA2.Load()) > ma2.Total {
			t.Errorf("clients were greeted by a1 %d, a2 %d times; more than picked (%d, %d)", greetA1.Load(), greetA2.Load(), ma1.Total, ma2.Total)
		}
		// without lb_try_duration each dead dial is one refused client
		if nb1.Total != uint64(okB.Load()) || ndead.Total != uint64(failB.Load()) || uint64(b1.Accepted()) != nb1.Total {
			t.Errorf("notry: b1 picked %d (accepted %d), dead picked %d; clients: %d ok, %d refused", nb1.Total, b1.Accepted(), ndead.Total, okB.Load(), failB.Load())
		}
		if failB.Load() == 0 {
			t.Errorf("no connection to notry was refused: the dead backend was never dialled")
		}
		if echoReset.Load() == 0 {
			t.Errorf("no echo connection went to the resetting backend a2")
		}
		if live, ok := v.counter(dead.Addr()); !ok || live != 0 {
			t.Errorf("counters[] for the dead backend: %d, listed %t; want 0, listed", live, ok)
		}
		harness.WaitFor(t, relTimeout, func() bool { return a1.Open()+a2.Open()+b1.Open() == 0 },
			"backends still have proxied connections open")
	})

	t.Run("max_connections", func(t *testing.T) {
		// capped: m1 (local, max 2) then m2 (west, cost 5)
		var conns []net.Conn
		var names []string
		for range 3 {
			name, conn, err := harness.Hold(lc, relTimeout)
			if err != nil {
				t.Fatalf("held connection %d to capped: %v", len(conns)+1, err)
			}
			conns, names = append(conns, conn), append(names, name)
		}
		if strings.Join(names, ",") != "m1,m1,m2" {
			t.Errorf("3 held connections to capped went to %v; want m1, m1, then m2 (m1 is at max_connections 2)", names)
		}
		v := mustView(t, c)
		s := mustService(t, v, "capped")
		if b := mustBackend(t, s, m1.Addr()); b.Live != 2 || b.Available || b.MaxConnections != 2 {
			t.Errorf("capped m1 with 2 held: live %d available %t max %d; want 2, false, 2", b.Live, b.Available, b.MaxConnections)
		}
		if b := mustBackend(t, s, m2.Addr()); b.Live != 1 {
			t.Errorf("capped m2: live %d, want 1", b.Live)
		}
		for _, conn := range conns {
			_ = closeAndDrain(conn)
		}

		// capped-alone: m3 (max 2) is the only backend: the third is refused
		conns = conns[:0]
		for i := range 3 {
			name, conn, err := harness.Hold(ld, relTimeout)
			switch {
			case i < 2 && (err != nil || name != "m3"):
				t.Fatalf("held connection %d to capped-alone: %q, %v; want m3", i+1, name, err)
			case i < 2:
				conns = append(conns, conn)
			case err == nil:
				_ = conn.Close()
				t.Errorf("third held connection to capped-alone reached %q; want it refused (m3 is at max_connections 2, no other backend)", name)
			case !isRefused(err):
				t.Errorf("third held connection to capped-alone: %v; want closed before a greeting", err)
			}
		}
		for _, conn := range conns {
			_ = closeAndDrain(conn)
		}
		waitAllLiveZero(t, c, relTimeout)

		// 100 sequential connections, each finished before the next
		const seq = 100
		for _, tc := range []struct{ svc, listen, want, addr string }{
			{"capped", lc, "m1", m1.Addr()},
			{"capped-alone", ld, "m3", m3.Addr()},
		} {
			ok := 0
			for i := range seq {
				name, conn, err := harness.Hold(tc.listen, relTimeout)
				if err != nil || name != tc.want {
					t.Errorf("%s: sequential connection %d: %q, %v; want %s", tc.svc, i+1, name, err, tc.want)
					if err != nil {
						continue
					}
				} else {
					ok++
				}
				if err := closeAndDrain(conn); err != nil {
					t.Errorf("%s: closing sequential connection %d: %v", tc.svc, i+1, err)
				}
				waitCounterEquals(t, c, tc.addr, 0)
			}
			t.Logf("FIGURES max_connections 2: %s: %d/%d sequential connections succeeded on %s", tc.svc, ok, seq, tc.want)
		}

		// the contrast: caddy-l4's own proxy with max_connections 2 never
		// decrements its count and refuses the third sequential connection
		var plain []string
		for i := range 3 {
			name, conn, err := harness.Hold(lp, relTimeout)
			if err != nil {
				plain = append(plain, "refused")
				if i == 2 && !isRefused(err) {
					t.Errorf("plain proxy, sequential connection 3: %v; want closed before a greeting", err)
				}
				continue
			}
			plain = append(plain, name)
			_ = closeAndDrain(conn)
			harness.WaitFor(t, relTimeout, func() bool { return p1.Open() == 0 }, "p1 still has the connection open")
		}
		if strings.Join(plain, ",") != "p1,p1,refused" {
			t.Errorf("caddy-l4 proxy with max_connections 2, 3 sequential connections: %v; want p1, p1, refused", plain)
		}
		t.Logf("FIGURES caddy-l4 proxy max_connections 2, 3 sequential connections: %v", plain)
		waitAllLiveZero(t, c, relTimeout)
	})
}

// ---------------------------------------------------------------------------
// 3. Reload under load

// TestReliabilityReloadUnderLoad holds 500 connections echoing data and
// reloads the config five times (link cost changed, a backend added, one
// removed, a service cost override and max_connections, failover-only cost):
// no held connection breaks or loses a byte, live counts carry over (new
// connections are placed using the held ones), and a removed backend keeps
// its live count until its connections close.
func TestReliabilityReloadUnderLoad(t *testing.T) {
	e1 := harness.StartBackend(t, "e1")
	e2 := harness.StartBackend(t, "e2")
	e3 := harness.StartBackend(t, "e3")
	w1 := harness.StartBackend(t, "w1")
	nameOf := map[string]string{e1.Addr(): "e1", e2.Addr(): "e2", e3.Addr(): "e3", w1.Addr(): "w1"}
	addrOf := map[string]string{"e1": e1.Addr(), "e2": e2.Addr(), "e3": e3.Addr(), "w1": w1.Addr()}
	listen := harness.FreeAddr(t)

	nHeld := 500
	if *reliabilityLong {
		nHeld = 1500
	}
	const probes = 10

	type step struct {
		what     string
		network  string
		backends string // backend and link_cost lines
		sim      []simBackend
	}
	steps := []step{
		{"initial: e1 e2 in east, w1 in west, link 100", "site east\nlink east west 100",
			fmt.Sprintf("backend east %s %s\nbackend west %s", e1.Addr(), e2.Addr(), w1.Addr()),
			[]simBackend{{e1.Addr(), 0, 0}, {e2.Addr(), 0, 0}, {w1.Addr(), 100, 0}}},
		{"reload 1: link cost 100 -> 20", "site east\nlink east west 20",
			fmt.Sprintf("backend east %s %s\nbackend west %s", e1.Addr(), e2.Addr(), w1.Addr()),
			[]simBackend{{e1.Addr(), 0, 0}, {e2.Addr(), 0, 0}, {w1.Addr(), 20, 0}}},
		{"reload 2: backend e3 added", "site east\nlink east west 20",
			fmt.Sprintf("backend east %s %s %s\nbackend west %s", e1.Addr(), e2.Addr(), e3.Addr(), w1.Addr()),
			[]simBackend{{e1.Addr(), 0, 0}, {e2.Addr(), 0, 0}, {e3.Addr(), 0, 0}, {w1.Addr(), 20, 0}}},
		{"reload 3: backend e1 removed", "site east\nlink east west 20",
			fmt.Sprintf("backend east %s %s\nbackend west %s", e2.Addr(), e3.Addr(), w1.Addr()),
			[]simBackend{{e2.Addr(), 0, 0}, {e3.Addr(), 0, 0}, {w1.Addr(), 20, 0}}},
		{"reload 4: e3 max_connections 25, link_cost east west 1 for this service", "site east\nlink east west 20",
			fmt.Sprintf("backend east %s\nbackend east %s {\nmax_connections 25\n}\nbackend west %s\nlink_cost east west 1", e2.Addr(), e3.Addr(), w1.Addr()),
			[]simBackend{{e2.Addr(), 0, 0}, {e3.Addr(), 0, 25}, {w1.Addr(), 1, 0}}},
		{"reload 5: link cost 9999 (failover only), no override", "site east\nlink east west 9999",
			fmt.Sprintf("backend east %s\nbackend east %s {\nmax_connections 25\n}\nbackend west %s", e2.Addr(), e3.Addr(), w1.Addr()),
			[]simBackend{{e2.Addr(), 0, 0}, {e3.Addr(), 0, 25}, {w1.Addr(), 9999, 0}}},
	}
	config := func(s step) string {
		return costlbCaddyfile(s.network, l4Route{listen, "costlb {\nname svc\n" + s.backends + "\n}"})
	}

	c := harness.StartCaddy(t, config(steps[0]), "caddyfile")
	live := make(map[string]int64) // the model: live connections per address
	everyAddr := []string{e1.Addr(), e2.Addr(), e3.Addr(), w1.Addr()}

	// checkView compares GET /costlb/ with the model and the step's backends
	checkView := func(where string, s step) {
		t.Helper()
		v := mustView(t, c)
		for _, a := range everyAddr {
			got, listed := v.counter(a)
			if want := live[a]; got != want || (want != 0 && !listed) {
				t.Errorf("%s: counters[] %s (%s) = %d (listed %t), want %d", where, nameOf[a], a, got, listed, want)
			}
		}
		svc := mustService(t, v, "svc")
		if len(svc.Backends) != len(s.sim) {
			t.Errorf("%s: service has %d backends, want %d: %+v", where, len(svc.Backends), len(s.sim), svc.Backends)
		}
		for _, sb := range s.sim {
			b := mustBackend(t, svc, sb.addr)
			if b.Live != live[sb.addr] || b.PathCost != sb.path || b.Perceived != sb.path+live[sb.addr] || b.MaxConnections != sb.max {
				t.Errorf("%s: backend %s: live %d path %d perceived %d max %d; want %d, %d, %d, %d",
					where, nameOf[sb.addr], b.Live, b.PathCost, b.Perceived, b.MaxConnections, live[sb.addr], sb.path, sb.path+live[sb.addr], sb.max)
			}
		}
	}
	// place opens n held connections one after the other and checks each
	// backend got what the model predicts from the live counts
	var all []*heldConn
	place := func(where string, sim *costlbtest.Model, n int) []*heldConn {
		t.Helper()
		want, got := make(map[string]int), make(map[string]int)
		var out []*heldConn
		for range n {
			a := sim.Pick(live)
			want[nameOf[a]]++
			name, conn, err := harness.Hold(listen, relTimeout)
			if err != nil {
				t.Fatalf("%s: held connection %d: %v", where, len(all)+1, err)
			}
			got[name]++
			hc := &heldConn{id: len(all), name: name, addr: addrOf[name], conn: conn}
			all = append(all, hc)
			out = append(out, hc)
			t.Cleanup(func() { _ = conn.Close() })
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: %d new connections went to %v; placement from the live counts predicts %v", where, n, got, want)
		} else {
			t.Logf("%s: %d new connections went to %v, as predicted from the live counts", where, n, got)
		}
		return out
	}

	initial := place(steps[0].what, newSim(steps[0].sim...), nHeld)
	checkView(steps[0].what, steps[0])
	pool := startEchoPool(initial, 10, 20*time.Millisecond)
	t.Cleanup(pool.Stop)
	pool.fullPass(t)

	var probeConns []*heldConn
	var reloadTimes []time.Duration
	for _, s := range steps[1:] {
		t0 := time.Now()
		status, body, err := c.Load([]byte(config(s)), "text/caddyfile")
		if err != nil || status != http.StatusOK {
			t.Fatalf("%s: POST /load: status %d, err %v, body %s", s.what, status, err, body)
		}
		reloadTimes = append(reloadTimes, time.Since(t0).Round(time.Millisecond))
		pool.fullPass(t) // every held connection echoed since the reload
		if errs := pool.errors(); len(errs) > 0 {
			t.Fatalf("%s: %d held connections broke: %v", s.what, len(errs), errs)
		}
		for _, hc := range probeConns {
			p := make([]byte, 64)
			fillPayload(p, uint64(hc.id), 7)
			if err := harness.EchoCheck(hc.conn, p); err != nil {
				t.Fatalf("%s: held connection %d to %s: %v", s.what, hc.id, hc.name, err)
			}
		}
		checkView(s.what+" (before new connections)", s)
		probeConns = append(probeConns, place(s.what, newSim(s.sim...), probes)...)
		checkView(s.what, s)
	}
	pool.Stop()
	if errs := pool.errors(); len(errs) > 0 {
		t.Fatalf("%d held connections broke: %v", len(errs), errs)
	}

	// e1 was removed by reload 3: its connections still count until they close
	var e1Conns, rest []*heldConn
	for _, hc := range all {
		if hc.name == "e1" {
			e1Conns = append(e1Conns, hc)
		} else {
			rest = append(rest, hc)
		}
	}
	if live[e1.Addr()] == 0 || int64(len(e1Conns)) != live[e1.Addr()] {
		t.Fatalf("model: %d held connections to e1, live %d", len(e1Conns), live[e1.Addr()])
	}
	e1Live := live[e1.Addr()]
	for _, hc := range e1Conns {
		if err := closeAndDrain(hc.conn); err != nil {
			t.Errorf("closing held connection %d to e1: %v", hc.id, err)
		}
	}
	live[e1.Addr()] = 0
	// then 0: listed with 0, or dropped from counters[] (no running
	// service uses the address and no connection to it is open)
	var e1Left int64
	var e1Listed bool
	harness.WaitFor(t, relTimeout, func() bool {
		v, _, err := fetchView(c)
		e1Left, e1Listed = v.counter(e1.Addr())
		return err == nil && e1Left == 0
	}, fmt.Sprintf("the removed backend e1's live count did not reach 0 after its %d connections closed", len(e1Conns)))
	t.Logf("removed backend e1: live %d with its connections open, 0 after they closed (counters[] entry kept: %t)", e1Live, e1Listed)
	checkView("after closing e1's connections", steps[len(steps)-1])
	for _, hc := range rest {
		_ = closeAndDrain(hc.conn)
	}
	waitAllLiveZero(t, c, relTimeout)
	t.Logf("FIGURES reload under load: %d held connections + %d placed after reloads, 5 reloads (POST /load took %v), %d echo checks (%d bytes) with 0 broken; removed backend e1 kept live %d until its connections closed, then 0 (entry kept: %t)",
		nHeld, len(probeConns), reloadTimes, pool.checks.Load(), pool.bytes.Load(), e1Live, e1Listed)
}

// ---------------------------------------------------------------------------
// 4. Rejected reload

// TestReliabilityRejectedReload posts bad configs to a running Caddy: each is
// refused with an error naming the problem, and the running config keeps
// serving: held connections echo, new connections are placed as before, and
// GET /costlb/ and GET /config/ do not change.
func TestReliabilityRejectedReload(t *testing.T) {
	e1 := harness.StartBackend(t, "e1")
	w1 := harness.StartBackend(t, "w1")
	nameOf := map[string]string{e1.Addr(): "e1", w1.Addr(): "w1"}
	listen := harness.FreeAddr(t)
	handler := func(extra string) string {
		return fmt.Sprintf("costlb {\nname svc\nbackend east %s\nbackend west %s\n%s\n}", e1.Addr(), w1.Addr(), extra)
	}
	good := costlbCaddyfile("site east\nlink east west 5", l4Route{listen, handler("")})
	c := harness.StartCaddy(t, good, "caddyfile")

	live := make(map[string]int64)
	sim := newSim(simBackend{e1.Addr(), 0, 0}, simBackend{w1.Addr(), 5, 0})
	var held []net.Conn
	for i := range 10 {
		want := nameOf[sim.Pick(live)]
		name, conn, err := harness.Hold(listen, relTimeout)
		if err != nil || name != want {
			t.Fatalf("held connection %d: %q, %v; want %s", i+1, name, err, want)
		}
		held = append(held, conn)
		t.Cleanup(func() { _ = conn.Close() })
	}

	jsonConfig := func(cost, extra string) string {
		return fmt.Sprintf(`{"admin": {"listen": "{ADMIN}"}, "apps": {
			"costlb": {"site": "east", "links": [{"between": ["east", "west"], "cost": %s}]},
			"layer4": {"servers": {"s": {"listen": [%q], "routes": [{"handle": [{
				"handler": "costlb", "name": "svc",
				"backends": [{"site": "east", "dial": [%q]}, {"site": "west", "dial": [%q]}]%s
			}]}]}}}}}`, cost, listen, e1.Addr(), w1.Addr(), extra)
	}
	bads := []struct {
		what, contentType, config string
		want                      []string // the error body names the problem
	}{
		{"unknown site in a backend", "text/caddyfile",
			costlbCaddyfile("site east\nlink east west 5", l4Route{listen, handler("backend mars 127.0.0.1:1")}),
			[]string{`unknown site "mars"`}},
		{"link cost 0", "text/caddyfile",
			costlbCaddyfile("site east\nlink east west 0", l4Route{listen, handler("")}),
			[]string{`"0"`, "must be an integer from 1 to 2147483647"}},
		{"lb_policy inside costlb", "text/caddyfile",
			costlbCaddyfile("site east\nlink east west 5", l4Route{listen, handler("lb_policy round_robin")}),
			[]string{"lb_policy is not allowed"}},
		{"malformed JSON", "application/json",
			jsonConfig("5", "")[:120],
			[]string{"unexpected end of JSON input"}},
		{"JSON link cost 0", "application/json", jsonConfig("0", ""),
			[]string{"cost 0", "must be an integer from 1 to 2147483647"}},
		{"JSON selection policy inside costlb", "application/json",
			jsonConfig("5", `, "load_balancing": {"selection": {"policy": "round_robin"}}`),
			[]string{"selection", "not allowed"}},
	}

	payload := make([]byte, 512)
	for i, bad := range bads {
		_, viewBefore, err := fetchView(c)
		if err != nil {
			t.Fatal(err)
		}
		_, cfgBefore, err := c.Get("/config/")
		if err != nil {
			t.Fatal(err)
		}
		status, body, err := c.Load([]byte(bad.config), bad.contentType)
		if err != nil {
			t.Fatalf("%s: POST /load: %v", bad.what, err)
		}
		if status < 400 || status >= 500 {
			t.Errorf("%s: POST /load status %d; want a 4xx client error", bad.what, status)
		}
		var apiErr struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(body, &apiErr); err != nil || apiErr.Error == "" {
			t.Errorf("%s: POST /load body is not Caddy's JSON error (%v): %s", bad.what, err, body)
		}
		for _, w := range bad.want {
			if !strings.Contains(apiErr.Error, w) {
				t.Errorf("%s: POST /load body does not name the problem (%q): %s", bad.what, w, body)
			}
		}
		t.Logf("%s: POST /load -> %d: %s", bad.what, status, apiErr.Error)

		_, viewAfter, err := fetchView(c)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(viewBefore, viewAfter) {
			t.Errorf("%s: GET /costlb/ changed after the rejected reload:\nbefore %s\nafter %s", bad.what, viewBefore, viewAfter)
		}
		if _, cfgAfter, _ := c.Get("/config/"); !bytes.Equal(cfgBefore, cfgAfter) {
			t.Errorf("%s: GET /config/ changed after the rejected reload", bad.what)
		}
		for j, conn := range held {
			fillPayload(payload, uint64(j), uint64(i))
			if err := harness.EchoCheck(conn, payload); err != nil {
				t.Fatalf("%s: held connection %d broke: %v", bad.what, j+1, err)
			}
		}
		// new connections are still served and placed by the running config
		want := sim.Pick(live)
		name, conn, err := harness.Hold(listen, relTimeout)
		if err != nil || name != nameOf[want] {
			t.Fatalf("%s: new connection: %q, %v; want %s", bad.what, name, err, nameOf[want])
		}
		_ = closeAndDrain(conn)
		live[want]--
		waitCounterEquals(t, c, want, live[want])
	}
	for _, conn := range held {
		_ = closeAndDrain(conn)
	}
	waitAllLiveZero(t, c, relTimeout)
	t.Logf("FIGURES rejected reload: %d bad configs refused, running config unchanged, %d held connections unaffected", len(bads), len(held))
}

// ---------------------------------------------------------------------------
// 8. Emergent speed balance

// TestReliabilitySpeedBalance runs 8 clients against two equal-cost backends,
// one closing its connections three times faster than the other: balancing by
// live connections sends the faster one at least 1.8x the connections.
func TestReliabilitySpeedBalance(t *testing.T) {
	const d = 150 * time.Millisecond
	fast := harness.StartBackend(t, "fast", harness.WithHoldClose(d))
	slow := harness.StartBackend(t, "slow", harness.WithHoldClose(3*d))
	listen := harness.FreeAddr(t)
	// slow first: the very first pick, on a full tie, goes to the first in
	// config order (later ties rotate), so any bias favours slow.
	// The ratio stays below the ideal 3: a connection counts until Caddy has
	// closed both sides, so a client that reconnects at once can still see
	// its previous connection counted on the fast backend and lose the tie
	// (measured ~2.2; ~2.8 with a 3 ms pause between connections).
	cfg := costlbCaddyfile("site east", l4Route{listen, fmt.Sprintf("costlb {\nname speed\nbackend east %s %s\n}", slow.Addr(), fast.Addr())})
	c := harness.StartCaddy(t, cfg, "caddyfile")

	run := 6 * time.Second
	if *reliabilityLong {
		run = 30 * time.Second
	}
	const clients = 8
	var nFast, nSlow, nFail atomic.Int64
	var errMu sync.Mutex
	var firstErr error
	deadline := time.Now().Add(run)
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				name, conn, err := harness.Hold(listen, relTimeout)
				if err == nil {
					_, err = readToEOF(conn, relTimeout) // the backend closes
					_ = conn.Close()
				}
				switch {
				case err != nil:
					nFail.Add(1)
					errMu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					errMu.Unlock()
				case name == "fast":
					nFast.Add(1)
				case name == "slow":
					nSlow.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	v := waitAllLiveZero(t, c, relTimeout)
	s := mustService(t, v, "speed")
	bf, bs := mustBackend(t, s, fast.Addr()), mustBackend(t, s, slow.Addr())
	ratio := float64(nFast.Load()) / float64(max(nSlow.Load(), 1))
	t.Logf("FIGURES speed balance: %v run, %d clients, hold %v vs %v: fast %d, slow %d connections, ratio %.2f, %d failures",
		run, clients, d, 3*d, nFast.Load(), nSlow.Load(), ratio, nFail.Load())
	if nFail.Load() != 0 {
		t.Errorf("%d connections failed, e.g. %v", nFail.Load(), firstErr)
	}
	if bf.Total != uint64(nFast.Load()) || bs.Total != uint64(nSlow.Load()) {
		t.Errorf("connections_total fast %d, slow %d; clients counted %d, %d", bf.Total, bs.Total, nFast.Load(), nSlow.Load())
	}
	if nSlow.Load() == 0 || ratio < 1.8 {
		t.Errorf("fast/slow = %d/%d = %.2f; want at least 1.8", nFast.Load(), nSlow.Load(), ratio)
	}
}
