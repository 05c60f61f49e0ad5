package integration

// Failover under load: a service's only local backend dies and comes back
// while clients keep connecting.

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

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

	health := fmt.Sprintf(`fail_duration %v
		lb_try_duration 2s
		lb_try_interval 20ms`, foFailDuration)
	failbackAfter := foFailDuration + time.Second // the last failure is forgotten fail_duration after it
	if active {
		health = fmt.Sprintf(`health_interval %v
		health_timeout %v`, foInterval, foTimeout)
		failbackAfter = foInterval + foTimeout + time.Second
	}
	cfg := costlbCaddyfile(`
		site east
		link east west 9999`, l4Route{listen, fmt.Sprintf(`costlb {
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
