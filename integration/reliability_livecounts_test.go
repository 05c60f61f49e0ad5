package integration

// Exact live counts under faults: clients that abort, backends that reset
// mid-stream, dials to a dead backend with and without retries, long holders.
// Live counts never go negative and end at exactly 0, and every count agrees
// with what the clients and the backends saw.

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// TestReliabilityLiveCountsUnderFaults drives 10,000 connections (50,000
// with -long) through two services that share a dead backend, while polling
// GET /costlb/: mix retries its dead dials onto a1 and a2 (a2 resets after
// 64 bytes), notry has no retries. Each subtest checks one behaviour of the
// one run.
func TestReliabilityLiveCountsUnderFaults(t *testing.T) {
	rig := startMixedRig(t)
	total := 10000
	if *reliabilityLong {
		total = 50000
	}
	run := rig.run(t, total)
	v := run.view
	mix, notry := mustService(t, v, "mix"), mustService(t, v, "notry")
	ma1, ma2, mdead := mustBackend(t, mix, rig.a1.Addr()), mustBackend(t, mix, rig.a2.Addr()), mustBackend(t, mix, rig.dead.Addr())
	nb1, ndead := mustBackend(t, notry, rig.b1.Addr()), mustBackend(t, notry, rig.dead.Addr())
	n, p := &run.tally, run.poller
	t.Logf("FIGURES live counts: %d connections in %v (%d short, %d client aborts, %d echo of which %d reset by a2, %d held %v, %d to the no-retry service: %d ok, %d refused after a dead dial); "+
		"%d unexpected failures; dead backend dialled %d times by mix (retried) and %d times by notry; %d polls of GET /costlb/ (%d errors), lowest live count seen %d, highest %d",
		n.conns(), run.elapsed.Round(time.Millisecond), n.short.Load(), n.abort.Load(), n.echo.Load(), n.echoReset.Load(), n.held.Load(), mixHoldFor,
		n.noRetry.Load(), n.noRetryOK.Load(), n.noRetryRefused.Load(), n.nUnexpected.Load(), mdead.Total, ndead.Total, p.polls, p.errs, p.low, p.high)

	t.Run("every connection ran with the outcome its backend gives", func(t *testing.T) {
		if conns := n.conns(); conns != int64(total) {
			t.Errorf("ran %d connections, want %d", conns, total)
		}
		if k := n.nUnexpected.Load(); k != 0 {
			t.Errorf("%d unexpected client outcomes, e.g. %s", k, strings.Join(n.unexpected, "; "))
		}
	})

	t.Run("never negative, exactly 0 at the end", func(t *testing.T) {
		// waitAllLiveZero (in run) has checked that every count is 0 and stays 0
		if p.low < 0 {
			t.Errorf("GET /costlb/ showed a negative live count (%d): %v", p.low, p.lowWhere)
		}
		if p.polls < 10 {
			t.Errorf("only %d polls of GET /costlb/ during the run (%d errors, last %v)", p.polls, p.errs, p.lastErr)
		}
		if live, ok := v.counter(rig.dead.Addr()); !ok || live != 0 {
			t.Errorf("counters[] for the dead backend: %d, listed %t; want 0, listed", live, ok)
		}
		harness.WaitFor(t, relTimeout, func() bool { return rig.a1.Open()+rig.a2.Open()+rig.b1.Open() == 0 },
			"backends still have proxied connections open")
	})

	t.Run("with retries every connection is one pick of a live backend", func(t *testing.T) {
		// every connection to mix was placed on a1 or a2 in the end, dead
		// dials were retried there; the backends accepted exactly the picks
		if got, want := ma1.Total+ma2.Total, uint64(n.short.Load()+n.abort.Load()+n.echo.Load()+n.held.Load()); got != want {
			t.Errorf("mix: a1+a2 connections_total = %d, want one per connection = %d", got, want)
		}
		if mdead.Total == 0 {
			t.Errorf("mix never dialled the dead backend: the retry path was not exercised")
		}
		if uint64(rig.a1.Accepted()) != ma1.Total || uint64(rig.a2.Accepted()) != ma2.Total {
			t.Errorf("backends accepted a1 %d, a2 %d; mix picked a1 %d, a2 %d", rig.a1.Accepted(), rig.a2.Accepted(), ma1.Total, ma2.Total)
		}
		if uint64(n.greetA1.Load()) > ma1.Total || uint64(n.greetA2.Load()) > ma2.Total {
			t.Errorf("clients were greeted by a1 %d, a2 %d times; more than picked (%d, %d)", n.greetA1.Load(), n.greetA2.Load(), ma1.Total, ma2.Total)
		}
		if n.echoReset.Load() == 0 {
			t.Errorf("no echo connection went to the resetting backend a2")
		}
	})

	t.Run("without retries each dead dial refuses one client", func(t *testing.T) {
		if nb1.Total != uint64(n.noRetryOK.Load()) || ndead.Total != uint64(n.noRetryRefused.Load()) || uint64(rig.b1.Accepted()) != nb1.Total {
			t.Errorf("notry: b1 picked %d (accepted %d), dead picked %d; clients: %d ok, %d refused",
				nb1.Total, rig.b1.Accepted(), ndead.Total, n.noRetryOK.Load(), n.noRetryRefused.Load())
		}
		if n.noRetryRefused.Load() == 0 {
			t.Errorf("no connection to notry was refused: the dead backend was never dialled")
		}
	})
}

// mixedRig is the Caddy of TestReliabilityLiveCountsUnderFaults and its
// backends: service mix (listening on mix) over a1, a2 and dead, with
// retries; service notry (listening on notry) over b1 and dead, without.
type mixedRig struct {
	c                *harness.Caddy
	a1, a2, dead, b1 *harness.Backend
	mix, notry       string
}

func startMixedRig(t *testing.T) *mixedRig {
	r := &mixedRig{
		a1:   harness.StartBackend(t, "a1"),
		a2:   harness.StartBackend(t, "a2", harness.WithResetAfter(64)),
		dead: harness.StartBackend(t, "dead"),
		b1:   harness.StartBackend(t, "b1"),
		mix:  harness.FreeAddr(t), notry: harness.FreeAddr(t),
	}
	r.dead.Stop() // its address now refuses connections
	r.c = harness.StartCaddy(t, costlbCaddyfile(`
		site east
		link east west 5`,
		l4Route{r.mix, fmt.Sprintf(`costlb {
			name mix
			backend east %s %s %s
			fail_duration 200ms
			lb_try_duration 3s
			lb_try_interval 10ms
		}`, r.a1.Addr(), r.a2.Addr(), r.dead.Addr())},
		l4Route{r.notry, fmt.Sprintf(`costlb {
			name notry
			backend east %s %s
		}`, r.b1.Addr(), r.dead.Addr())},
	), "caddyfile")
	return r
}

// The mixed load: workers run jobs by kind (i % 10) while holders keep
// connections to mix open, echoing through a1 or just holding a2.
const (
	mixWorkers   = 24
	mixHolders   = 8
	mixPerHolder = 5
	mixHoldFor   = time.Second
)

// mixTally is what the clients of the mixed load did and saw.
type mixTally struct {
	// connections to mix, by kind; echoReset: echo connections a2 reset
	short, abort, echo, echoReset, held atomic.Int64
	greetA1, greetA2                    atomic.Int64 // greetings from mix's backends
	// connections to notry: served by b1, or refused after a dead dial
	noRetry, noRetryOK, noRetryRefused atomic.Int64

	mu          sync.Mutex
	unexpected  []string // the first 10
	nUnexpected atomic.Int64
}

func (n *mixTally) conns() int64 {
	return n.short.Load() + n.abort.Load() + n.echo.Load() + n.noRetry.Load() + n.held.Load()
}

func (n *mixTally) fail(format string, args ...any) {
	n.nUnexpected.Add(1)
	n.mu.Lock()
	defer n.mu.Unlock()
	if len(n.unexpected) < 10 {
		n.unexpected = append(n.unexpected, fmt.Sprintf(format, args...))
	}
}

// greetA counts a greeting from mix's backends; false for any other name.
func (n *mixTally) greetA(name string) bool {
	switch name {
	case "a1":
		n.greetA1.Add(1)
	case "a2":
		n.greetA2.Add(1)
	default:
		return false
	}
	return true
}

// mixedRun is the outcome of the mixed load: the tally, the poller (stopped)
// and GET /costlb/ once every live count was back to 0.
type mixedRun struct {
	tally   mixTally
	poller  *livePoller
	elapsed time.Duration
	view    lbView
}

// run drives total connections through the rig, polling GET /costlb/
// meanwhile, and waits for every live count to be 0 again.
func (r *mixedRig) run(t *testing.T, total int) *mixedRun {
	out := &mixedRun{poller: startLivePoller(r.c, 20*time.Millisecond)}
	t.Cleanup(out.poller.Stop)
	jobs := int64(total - mixHolders*mixPerHolder)
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range mixWorkers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			payload := make([]byte, 128)
			for i := next.Add(1) - 1; i < jobs; i = next.Add(1) - 1 {
				switch i % 10 {
				case 0, 1, 2: // short: greeting, close
					r.short(&out.tally)
				case 3, 4: // client abort right after connect: FIN, or RST
					r.abort(&out.tally, i%10 == 4)
				case 5, 6: // echo; a2 resets after 64 bytes
					r.echo(&out.tally, payload, uint64(i))
				default: // the service without retries: a dial to the dead backend fails
					r.noRetry(&out.tally)
				}
			}
		}()
	}
	for h := range mixHolders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.hold(&out.tally, h)
		}()
	}
	wg.Wait()
	out.elapsed = time.Since(start)
	out.view = waitAllLiveZero(t, r.c, 15*time.Second)
	out.poller.Stop()
	return out
}

func (r *mixedRig) short(n *mixTally) {
	n.short.Add(1)
	name, err := harness.Once(r.mix, relTimeout)
	if err != nil || !n.greetA(name) {
		n.fail("short connection to mix: %q, %v", name, err)
	}
}

func (r *mixedRig) abort(n *mixTally, rst bool) {
	n.abort.Add(1)
	conn, err := net.DialTimeout("tcp", r.mix, relTimeout)
	if err != nil {
		n.fail("abort: dial: %v", err)
		return
	}
	if rst {
		_ = conn.(*net.TCPConn).SetLinger(0)
	}
	_ = conn.Close()
}

// echo sends payload (filled for job i) through mix: a1 echoes it whole, a2
// resets after 64 bytes, so its client reads a prefix of at most 64.
func (r *mixedRig) echo(n *mixTally, payload []byte, i uint64) {
	n.echo.Add(1)
	name, conn, err := harness.Hold(r.mix, relTimeout)
	if err != nil || !n.greetA(name) {
		n.fail("echo connection to mix: %q, %v", name, err)
		return
	}
	defer conn.Close()
	fillPayload(payload, i, 1)
	_ = conn.SetDeadline(time.Now().Add(relTimeout))
	_, werr := conn.Write(payload)
	if name == "a1" {
		got := make([]byte, len(payload))
		if _, err := io.ReadFull(conn, got); werr != nil || err != nil || !bytes.Equal(got, payload) {
			n.fail("echo via a1: write %v, read %v", werr, err)
		}
		return
	}
	got, err := io.ReadAll(conn) // ends with EOF or a reset
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		n.fail("echo via a2 (reset after 64 bytes): connection did not end: %v", err)
	case len(got) > 64 || !bytes.Equal(got, payload[:len(got)]):
		n.fail("echo via a2 (reset after 64 bytes): got %d bytes, want a prefix of at most 64", len(got))
	default:
		n.echoReset.Add(1)
	}
}

func (r *mixedRig) noRetry(n *mixTally) {
	n.noRetry.Add(1)
	name, err := harness.Once(r.notry, relTimeout)
	switch {
	case err == nil && name == "b1":
		n.noRetryOK.Add(1)
	case err != nil && isRefused(err):
		n.noRetryRefused.Add(1)
	default:
		n.fail("connection to notry: %q, %v", name, err)
	}
}

// hold is holder h: mixPerHolder connections to mix one after the other,
// each held mixHoldFor, echoing through a1 every 200 ms.
func (r *mixedRig) hold(n *mixTally, h int) {
	payload := make([]byte, 256)
	for k := range mixPerHolder {
		n.held.Add(1)
		name, conn, err := harness.Hold(r.mix, relTimeout)
		if err != nil || !n.greetA(name) {
			n.fail("holder: %q, %v", name, err)
			continue
		}
		if name == "a2" {
			time.Sleep(mixHoldFor) // a2 would reset once it echoed 64 bytes: just hold
		}
		for end := time.Now().Add(mixHoldFor); name == "a1" && time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
			fillPayload(payload, uint64(h*1000+k), uint64(time.Now().UnixNano()))
			if err := harness.EchoCheck(conn, payload); err != nil {
				n.fail("holder via %s: %v", name, err)
				break
			}
		}
		_ = conn.Close()
	}
}
