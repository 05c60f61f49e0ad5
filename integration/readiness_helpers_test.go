package integration

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// Chained sites: each site is a real Caddy process. A site's backend in
// another site is that site's Caddy (a gateway), marked with the readiness
// URL of the other Caddy's costlb_status handler.

// siteCaddyfile returns one site's Caddyfile: the costlb network, one
// layer4 service on listen whose costlb block holds the handler lines,
// and, when status is not "", a costlb_status site block on that address.
func siteCaddyfile(network, listen, handler, status string) string {
	cf := costlbCaddyfile(network, costlbRoute(listen, "%s", handler))
	if status != "" {
		cf += statusSite(status)
	}
	return cf
}

// gatewayBackend returns the backend lines of a gateway in site: the
// other Caddy's layer4 listener, ready when its costlb_status at status
// says svc is.
func gatewayBackend(site, listen, status, svc string) string {
	return fmt.Sprintf(`backend %s %s {
		ready http://%s/ready/%s
	}`, site, listen, status, svc)
}

// readyDoc is GET /ready/<service>, decoded independently of the module.
type readyDoc struct {
	Service string      `json:"service"`
	Site    string      `json:"site"`
	Ready   *bool       `json:"ready"`
	Routes  []costRoute `json:"routes"`
}

// costRoute is one route with its cost, as a readiness answer and the
// admin view give it.
type costRoute struct {
	Sites []string `json:"sites"`
	Cost  *int64   `json:"cost"`
}

// String shows the route as "A→B→C@5" ("@?" without a cost), so that a
// list of routes prints as "[A@0 A→C@10]".
func (r costRoute) String() string {
	cost := "?"
	if r.Cost != nil {
		cost = fmt.Sprint(*r.Cost)
	}
	return strings.Join(r.Sites, "→") + "@" + cost
}

var statusClient = &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

// getReady asks the costlb_status handler at addr for svc's readiness.
func getReady(addr, svc string) (int, readyDoc, error) {
	var doc readyDoc
	resp, err := statusClient.Get("http://" + addr + "/ready/" + svc)
	if err != nil {
		return 0, doc, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, doc, err
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return resp.StatusCode, doc, fmt.Errorf("GET /ready/%s: %v: %s", svc, err, body)
	}
	if doc.Ready == nil {
		return resp.StatusCode, doc, fmt.Errorf(`GET /ready/%s: no "ready" field: %s`, svc, body)
	}
	if want := map[bool]int{true: 200, false: 503}[*doc.Ready]; resp.StatusCode != want {
		return resp.StatusCode, doc, fmt.Errorf("GET /ready/%s: status %d with ready %t (want %d)", svc, resp.StatusCode, *doc.Ready, want)
	}
	return resp.StatusCode, doc, nil
}

// waitReadyChange polls svc's readiness at addr every 20 ms until it is
// want, and returns how long that took; it fails the test after timeout.
func waitReadyChange(t *testing.T, addr, svc string, want bool, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last string
	for time.Since(start) < timeout {
		_, doc, err := getReady(addr, svc)
		switch {
		case err != nil:
			last = err.Error()
		case *doc.Ready == want:
			return time.Since(start)
		default:
			last = fmt.Sprintf("ready %t, routes %v", *doc.Ready, doc.Routes)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("%s /ready/%s: not ready=%t within %v; last: %s", addr, svc, want, timeout, last)
	return 0
}

// probe is one client connection through a site: when it started, the
// backend it reached, or its error.
type probe struct {
	at   time.Time
	name string
	err  error
}

// minProbesAfter is how many probes checkSwitch wants after its bound.
const minProbesAfter = 10

// probeUntil opens one connection after another to addr, pause apart,
// reading each one's greeting, until the deadline has passed and
// minProbesAfter of them started at or after from, however slow they are.
func probeUntil(addr string, from, until time.Time, pause time.Duration) []probe {
	return probeWith(func() (string, error) { return harness.Once(addr, 2*time.Second) }, from, until, pause)
}

// probeWith is probeUntil with once as the probe: it returns the name of
// what answered, or an error.
func probeWith(once func() (string, error), from, until time.Time, pause time.Duration) []probe {
	var out []probe
	for after := 0; time.Now().Before(until) || after < minProbesAfter; time.Sleep(pause) {
		p := probe{at: time.Now()}
		p.name, p.err = once()
		out = append(out, p)
		if !p.at.Before(from) {
			after++
		}
	}
	return out
}

// checkSwitch fails the test unless every probe started at or after
// from reached want without error, and returns how long after since the
// last probe that did not started (0 if none): the switch time as a
// client saw it.
func checkSwitch(t *testing.T, probes []probe, since, from time.Time, want string) time.Duration {
	t.Helper()
	var last time.Time
	after := 0
	for _, p := range probes {
		ok := p.err == nil && p.name == want
		if !p.at.Before(from) {
			after++
			if !ok {
				t.Errorf("a connection %v after the change reached %q (err %v); every one from %v on must reach %s",
					p.at.Sub(since).Round(time.Millisecond), p.name, p.err, from.Sub(since), want)
			}
		}
		if !ok {
			last = p.at
		}
	}
	if after < minProbesAfter {
		t.Fatalf("only %d connections after the bound: the probe did not run long enough", after)
	}
	if last.IsZero() {
		return 0
	}
	return last.Sub(since)
}

// checkNoneFailed fails the test for every probe that failed, whenever it
// started: a change of cost moves connections, it must not break any.
func checkNoneFailed(t *testing.T, probes []probe, since time.Time) {
	t.Helper()
	for _, p := range probes {
		if p.err != nil {
			t.Errorf("a connection %v after the change failed: %v", p.at.Sub(since).Round(time.Millisecond), p.err)
		}
	}
}

// pollerGoroutines returns how many readiness pollers run in the Caddy and
// how many goroutines it has in all, from its admin pprof endpoint.
func pollerGoroutines(t *testing.T, c *harness.Caddy) (pollers, total int) {
	t.Helper()
	status, body, err := c.Get("/debug/pprof/goroutine?debug=1")
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET /debug/pprof/goroutine: %d %v", status, err)
	}
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	group := 0 // goroutines in the current stack group
	counted := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "goroutine profile: total "):
			total, _ = strconv.Atoi(strings.TrimPrefix(line, "goroutine profile: total "))
		case line == "":
			group, counted = 0, false
		case group == 0 && strings.Contains(line, " @ "):
			group, _ = strconv.Atoi(strings.Fields(line)[0])
		case !counted && strings.Contains(line, "gateway.(*Poller).run"):
			pollers += group
			counted = true
		}
	}
	if total == 0 {
		t.Fatalf("no goroutine total in the pprof answer:\n%.500s", body)
	}
	return pollers, total
}

// countingRelay relays every TCP connection to its address on to target,
// both ways, and counts them. In front of a readiness URL it counts the
// polls, one connection each (the poller keeps none alive); a connection
// it cannot pass on it closes, as a refused one would end the poll.
func countingRelay(t testing.TB, target string) (addr string, conns *atomic.Int64) {
	t.Helper()
	ln := listenTCP(t, "127.0.0.1:0")
	t.Cleanup(func() { _ = ln.Close() })
	conns = new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go relay(c, target)
		}
	}()
	return ln.Addr().String(), conns
}

// relay copies c to a new connection to target and back until either
// side ends, then closes both.
func relay(c net.Conn, target string) {
	defer c.Close()
	up, err := net.DialTimeout("tcp", target, dialTimeout)
	if err != nil {
		return
	}
	defer up.Close()
	done := make(chan struct{})
	go func() {
		_, _ = io.Copy(up, c)
		closeWrite(up)
		close(done)
	}()
	_, _ = io.Copy(c, up)
	closeWrite(c)
	<-done
}
