package integration

import (
	"bufio"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// measureResets turns on TestResetsPerReload. It is a measurement (how many
// client connections a reload under churn breaks, costlb against caddy-l4's
// own proxy), not a pass/fail test, so CI does not run it.
var measureResets = flag.Bool("resets", false, "run TestResetsPerReload: measure resets per reload under churn, costlb against caddy-l4's proxy")

var (
	resetsRuns    = flag.Int("resets-runs", 5, "TestResetsPerReload: runs per target")
	resetsReloads = flag.Int("resets-reloads", 100, "TestResetsPerReload: reloads per run")
)

const (
	resetsClients = 8                     // churn goroutines
	resetsPause   = 20 * time.Millisecond // between reloads
	resetsConnTO  = 5 * time.Second       // one churn connection, end to end
	resetsMaxConn = 200000                // per goroutine, bounds a run
)

// churnCounts classifies every churn connection. A connection is counted
// exactly once.
type churnCounts struct {
	ok            atomic.Int64 // greeting read, echo came back, closed
	refused       atomic.Int64 // dial: ECONNREFUSED
	resetDial     atomic.Int64 // dial: ECONNRESET (the SYN was answered, then reset)
	resetGreeting atomic.Int64 // ECONNRESET or EOF before the greeting
	resetEcho     atomic.Int64 // ECONNRESET or EOF after the greeting, before the echo came back
	eofGreeting   atomic.Int64 // of resetGreeting, those that were a clean EOF (FIN), not ECONNRESET
	timeout       atomic.Int64 // a deadline passed
	other         atomic.Int64 // anything else (kept, with the first few errors)

	mu       sync.Mutex
	examples []string
}

func (c *churnCounts) total() int64 {
	return c.ok.Load() + c.refused.Load() + c.resetDial.Load() + c.resetGreeting.Load() + c.resetEcho.Load() + c.timeout.Load() + c.other.Load()
}

func (c *churnCounts) resets() int64 {
	return c.resetDial.Load() + c.resetGreeting.Load() + c.resetEcho.Load()
}

func isResetOrEOF(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.EPIPE)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// churnOnce opens one connection to addr, reads the greeting, echoes a few
// bytes and closes, and counts the outcome.
func churnOnce(addr string, n int, cnt *churnCounts) {
	fail := func(stage string, err error, reset *atomic.Int64) {
		switch {
		case isTimeout(err):
			cnt.timeout.Add(1)
		case reset != nil && isResetOrEOF(err):
			reset.Add(1)
			if reset == &cnt.resetGreeting && !errors.Is(err, syscall.ECONNRESET) {
				cnt.eofGreeting.Add(1)
			}
		default:
			cnt.other.Add(1)
			cnt.mu.Lock()
			if len(cnt.examples) < 5 {
				cnt.examples = append(cnt.examples, stage+": "+err.Error())
			}
			cnt.mu.Unlock()
		}
	}
	conn, err := net.DialTimeout("tcp", addr, resetsConnTO)
	if err != nil {
		if errors.Is(err, syscall.ECONNREFUSED) {
			cnt.refused.Add(1)
			return
		}
		fail("dial", err, &cnt.resetDial)
		return
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(resetsConnTO))
	r := bufio.NewReader(conn)
	if _, err := r.ReadString('\n'); err != nil {
		fail("greeting", err, &cnt.resetGreeting)
		return
	}
	msg := fmt.Sprintf("churn %d\n", n)
	if _, err := conn.Write([]byte(msg)); err != nil {
		fail("write", err, &cnt.resetEcho)
		return
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(r, got); err != nil {
		fail("echo", err, &cnt.resetEcho)
		return
	}
	if string(got) != msg {
		fail("echo", fmt.Errorf("echo %q, want %q", got, msg), nil)
		return
	}
	cnt.ok.Add(1)
}

// resetsTarget is one thing measured: two configs that differ harmlessly,
// alternated by the reloads.
type resetsTarget struct {
	name    string
	configs func(listen, backend string) [2]string
}

type resetsRun struct {
	target  string
	run     int
	reloads int
	ok      int64
	refused int64
	resetD  int64
	resetG  int64
	resetE  int64
	eofG    int64
	timeout int64
	other   int64
	elapsed time.Duration
}

func (r resetsRun) resets() int64 { return r.resetD + r.resetG + r.resetE }

func (r resetsRun) per100() float64 { return float64(r.resets()) * 100 / float64(r.reloads) }

func (r resetsRun) conns() int64 { return r.ok + r.refused + r.resets() + r.timeout + r.other }

// TestResetsPerReload measures how many churn connections a reload breaks,
// through costlb (one backend) and through caddy-l4's own proxy (one
// backend of the same kind), in alternating runs. It asserts only that the
// load ran and every connection was classified; the figures are logged.
//
//	go test ./integration/ -run TestResetsPerReload -resets -v
func TestResetsPerReload(t *testing.T) {
	if !*measureResets {
		t.Skip("a measurement; run with -resets")
	}
	targets := []resetsTarget{
		{"costlb", func(listen, be string) [2]string {
			cfg := func(cost int) string {
				return costlbCaddyfile(fmt.Sprintf(`
					site east
					link east west %d`, cost), costlbRoute(listen, `
					name svc
					backend east %s`, be))
			}
			return [2]string{cfg(5), cfg(6)}
		}},
		{"caddy-l4 proxy", func(listen, be string) [2]string {
			cfg := func(policy string) string {
				return fmt.Sprintf(`{
	admin {ADMIN}
	layer4 {
		%s {
			route {
				proxy {
					upstream %s
					lb_policy %s
				}
			}
		}
	}
}
`, listen, be, policy)
			}
			return [2]string{cfg("first"), cfg("random")}
		}},
	}
	runs, reloads := *resetsRuns, *resetsReloads
	if runs < 1 || reloads < 2 {
		t.Fatalf("need -resets-runs >= 1 and -resets-reloads >= 2")
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		t.Logf("load average before: %s", strings.TrimSpace(string(b)))
	}

	var results []resetsRun
	for i := range runs {
		for _, tg := range targets {
			r := measureResetsRun(t, tg, i+1, reloads)
			results = append(results, r)
			t.Logf("%-15s run %d: %d reloads in %v: ok %d, resets %d (at connect %d, before greeting %d of them %d EOF, after %d), refused %d, timeouts %d, other %d; %.1f resets per 100 reloads",
				r.target, r.run, r.reloads, r.elapsed.Round(time.Millisecond), r.ok, r.resets(), r.resetD, r.resetG, r.eofG, r.resetE, r.refused, r.timeout, r.other, r.per100())
		}
	}
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		t.Logf("load average after: %s", strings.TrimSpace(string(b)))
	}

	var tab strings.Builder
	fmt.Fprintf(&tab, "\n| target | runs (resets per 100 reloads) | median | resets per 10k connections | refused (total) | ok (total) |\n|---|---|---|---|---|---|\n")
	for _, tg := range targets {
		var per []float64
		var cells []string
		var refused, ok, resets, conns int64
		for _, r := range results {
			if r.target != tg.name {
				continue
			}
			per = append(per, r.per100())
			cells = append(cells, fmt.Sprintf("%.0f", r.per100()))
			refused += r.refused
			ok += r.ok
			resets += r.resets()
			conns += r.conns()
		}
		sort.Float64s(per)
		med := per[len(per)/2]
		if len(per)%2 == 0 {
			med = (per[len(per)/2-1] + per[len(per)/2]) / 2
		}
		fmt.Fprintf(&tab, "| %s | %s | %.1f | %.1f | %d | %d |\n", tg.name, strings.Join(cells, ", "), med,
			float64(resets)*1e4/float64(conns), refused, ok)
	}
	t.Log(tab.String())
}

func measureResetsRun(t *testing.T, tg resetsTarget, run, reloads int) resetsRun {
	t.Helper()
	res := resetsRun{target: tg.name, run: run, reloads: reloads}
	t.Run(fmt.Sprintf("%s/%d", strings.ReplaceAll(tg.name, " ", "_"), run), func(t *testing.T) {
		be := harness.StartBackend(t, "be")
		listen := harness.FreeAddr(t)
		cfgs := tg.configs(listen, be.Addr())
		c := harness.StartCaddy(t, cfgs[0], "caddyfile")
		if _, err := harness.Once(listen, relTimeout); err != nil {
			t.Fatalf("first connection: %v", err)
		}

		var cnt churnCounts
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for g := range resetsClients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for n := range resetsMaxConn {
					select {
					case <-stop:
						return
					default:
					}
					churnOnce(listen, g*resetsMaxConn+n, &cnt)
				}
			}()
		}
		// the load running before the first reload: a connection per client
		harness.WaitFor(t, relTimeout, func() bool { return cnt.ok.Load() >= resetsClients }, "the churn load running")
		t0 := time.Now()
		for i := range reloads {
			cfg := cfgs[(i+1)%2]
			status, body, err := c.Load([]byte(cfg), "text/caddyfile")
			if err != nil || status != http.StatusOK {
				close(stop)
				wg.Wait()
				t.Fatalf("reload %d: status %d, err %v, body %s", i+1, status, err, body)
			}
			time.Sleep(resetsPause)
		}
		res.elapsed = time.Since(t0)
		// connections opened just after the last reload finish, and then some
		after := cnt.total() + 2*resetsClients
		harness.WaitFor(t, relTimeout, func() bool { return cnt.total() >= after }, "churn connections after the last reload")
		close(stop)
		wg.Wait()

		res.ok, res.refused = cnt.ok.Load(), cnt.refused.Load()
		res.resetD, res.resetG, res.resetE = cnt.resetDial.Load(), cnt.resetGreeting.Load(), cnt.resetEcho.Load()
		res.timeout, res.other, res.eofG = cnt.timeout.Load(), cnt.other.Load(), cnt.eofGreeting.Load()
		if sum := res.ok + res.refused + res.resets() + res.timeout + res.other; sum != cnt.total() || sum == 0 {
			t.Errorf("classified %d connections, counted %d", sum, cnt.total())
		}
		if res.ok < int64(reloads) {
			t.Errorf("only %d successful connections over %d reloads: the load did not run", res.ok, reloads)
		}
		if len(cnt.examples) > 0 {
			t.Logf("unclassified errors (first %d of %d): %v", len(cnt.examples), res.other, cnt.examples)
		}
	})
	return res
}
