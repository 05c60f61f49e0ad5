package integration

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/costlb/costlb/costlb/costlbtest"
	"github.com/costlb/costlb/integration/harness"
)

// reliabilityLong turns on the long variants of the reliability tests: more
// failover cycles, more connections, longer runs. Off by default so that
// `go test ./...` stays within CI time.
var reliabilityLong = flag.Bool("long", false, "run the long variants of the reliability (fault) tests")

// relTimeout bounds every single client operation and wait in the
// reliability tests. The machine is shared and can stall a process for
// seconds, so it is generous: a real hang still fails, only later.
const relTimeout = 30 * time.Second

// ---------------------------------------------------------------------------
// Caddyfile configs

// l4Route is one layer4 server: a listen address and the handler text that
// goes inside its route block.
type l4Route struct {
	listen  string
	handler string
}

// costlbCaddyfile returns a Caddyfile with the costlb global option (its
// body is network: "site east\nlink east west 5") and one layer4 server per
// route.
func costlbCaddyfile(network string, routes ...l4Route) string {
	var b strings.Builder
	b.WriteString("{\n\tadmin {ADMIN}\n\tcostlb {\n")
	for _, l := range strings.Split(strings.TrimSpace(network), "\n") {
		fmt.Fprintf(&b, "\t\t%s\n", strings.TrimSpace(l))
	}
	b.WriteString("\t}\n\tlayer4 {\n")
	for _, r := range routes {
		fmt.Fprintf(&b, "\t\t%s {\n\t\t\troute {\n", r.listen)
		for _, l := range strings.Split(strings.TrimSpace(r.handler), "\n") {
			fmt.Fprintf(&b, "\t\t\t\t%s\n", strings.TrimSpace(l))
		}
		b.WriteString("\t\t\t}\n\t\t}\n")
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}

// ---------------------------------------------------------------------------
// GET /costlb/

// lbView mirrors GET /costlb/, decoded independently of the module's types
// so that the tests check the JSON contract.
type lbView struct {
	LocalSite string      `json:"local_site"`
	Sites     []lbSite    `json:"sites"`
	Services  []lbService `json:"services"`
	Counters  []lbCounter `json:"counters"`
}

type lbSite struct {
	Name      string   `json:"name"`
	PathCost  int64    `json:"path_cost"`
	Hops      int      `json:"hops"`
	Path      []string `json:"path"`
	Reachable bool     `json:"reachable"`
}

type lbService struct {
	Name        string      `json:"name"`
	Kind        string      `json:"kind"`
	PrimarySite string      `json:"primary_site"`
	Ready       bool        `json:"ready"`
	Routes      [][]string  `json:"routes"`
	Backends    []lbBackend `json:"backends"`
}

type lbBackend struct {
	Site           string `json:"site"`
	Address        string `json:"address"`
	PathCost       int64  `json:"path_cost"`
	Live           int64  `json:"live_connections"`
	Perceived      int64  `json:"perceived_cost"`
	Healthy        bool   `json:"healthy"`
	Available      bool   `json:"available"`
	MaxConnections int64  `json:"max_connections"`
	Total          uint64 `json:"connections_total"`
	// gateway backends only
	ReadyURL       string     `json:"ready_url"`
	Ready          *bool      `json:"ready"`
	Routes         [][]string `json:"routes"`
	NotReadyReason string     `json:"not_ready_reason"`
}

type lbCounter struct {
	Address string `json:"address"`
	Live    int64  `json:"live_connections"`
}

// fetchView reads GET /costlb/; it is safe to call from any goroutine.
func fetchView(c *harness.Caddy) (lbView, []byte, error) {
	var v lbView
	status, body, err := c.Get("/costlb/")
	if err != nil {
		return v, body, err
	}
	if status != http.StatusOK {
		return v, body, fmt.Errorf("GET /costlb/: status %d: %s", status, body)
	}
	if err := json.Unmarshal(body, &v); err != nil {
		return v, body, fmt.Errorf("GET /costlb/: %v: %s", err, body)
	}
	return v, body, nil
}

// mustView reads GET /costlb/ or fails the test.
func mustView(t testing.TB, c *harness.Caddy) lbView {
	t.Helper()
	v, _, err := fetchView(c)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func (v lbView) service(name string) *lbService {
	for i := range v.Services {
		if v.Services[i].Name == name {
			return &v.Services[i]
		}
	}
	return nil
}

// mustService returns the named service of v or fails the test.
func mustService(t testing.TB, v lbView, name string) *lbService {
	t.Helper()
	s := v.service(name)
	if s == nil {
		t.Fatalf("GET /costlb/ has no service %q: %+v", name, v.Services)
	}
	return s
}

func (s *lbService) backend(addr string) *lbBackend {
	for i := range s.Backends {
		if s.Backends[i].Address == addr {
			return &s.Backends[i]
		}
	}
	return nil
}

// mustBackend returns the backend of s at addr or fails the test.
func mustBackend(t testing.TB, s *lbService, addr string) *lbBackend {
	t.Helper()
	b := s.backend(addr)
	if b == nil {
		t.Fatalf("service %q has no backend %s: %+v", s.Name, addr, s.Backends)
	}
	return b
}

// counter returns the process-wide live count of addr and whether counters[]
// lists it.
func (v lbView) counter(addr string) (int64, bool) {
	for _, c := range v.Counters {
		if c.Address == addr {
			return c.Live, true
		}
	}
	return 0, false
}

// nonZeroLive describes every live count in v (services' backends and
// counters[]) that is not 0, and returns the lowest count seen.
func (v lbView) nonZeroLive() (bad []string, low int64) {
	for _, s := range v.Services {
		for _, b := range s.Backends {
			low = min(low, b.Live)
			if b.Live != 0 {
				bad = append(bad, fmt.Sprintf("service %s backend %s: live %d", s.Name, b.Address, b.Live))
			}
		}
	}
	for _, c := range v.Counters {
		low = min(low, c.Live)
		if c.Live != 0 {
			bad = append(bad, fmt.Sprintf("counter %s: live %d", c.Address, c.Live))
		}
	}
	return bad, low
}

// livePoller polls GET /costlb/ in the background and remembers the lowest
// live count it ever saw, and where.
type livePoller struct {
	stop     chan struct{}
	stopOnce sync.Once
	done     chan struct{}

	polls, errs int
	low         int64
	lowWhere    []string
	high        int64
	lastErr     error
}

func startLivePoller(c *harness.Caddy, every time.Duration) *livePoller {
	p := &livePoller{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(p.done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			v, _, err := fetchView(c)
			if err != nil {
				p.errs++
				p.lastErr = err
			} else {
				p.polls++
				bad, low := v.nonZeroLive()
				if low < p.low {
					p.low, p.lowWhere = low, bad
				}
				for _, b := range v.Counters {
					p.high = max(p.high, b.Live)
				}
			}
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
		}
	}()
	return p
}

// Stop ends the polling; the fields are safe to read afterwards. It may be
// called more than once.
func (p *livePoller) Stop() {
	p.stopOnce.Do(func() { close(p.stop) })
	<-p.done
}

// ---------------------------------------------------------------------------
// logs

// shiftLog is one "costlb failover" / "costlb failback" log line.
type shiftLog struct {
	Msg     string  `json:"msg"`
	TS      float64 `json:"ts"`
	Service string  `json:"service"`
	From    string  `json:"from_site"`
	To      string  `json:"to_site"`
	Reason  string  `json:"reason"`
}

// shiftLogs returns the failover and failback lines Caddy logged for service.
func shiftLogs(logs, service string) []shiftLog {
	var out []shiftLog
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Bytes()
		if !strings.Contains(string(line), "costlb fail") {
			continue
		}
		var l shiftLog
		if json.Unmarshal(line, &l) != nil || l.Service != service {
			continue
		}
		if l.Msg == "costlb failover" || l.Msg == "costlb failback" {
			out = append(out, l)
		}
	}
	return out
}

// healthTimeouts returns the timestamps of caddy-l4 active health checks of
// addr that failed by timing out rather than being refused.
func healthTimeouts(logs, addr string) []float64 {
	var out []float64
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		line := sc.Text()
		if !strings.Contains(line, "active health check failed") || !strings.Contains(line, addr) {
			continue
		}
		var l struct {
			Msg     string  `json:"msg"`
			TS      float64 `json:"ts"`
			Address string  `json:"address"`
			Error   string  `json:"error"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "active health check failed" &&
			l.Address == addr && strings.Contains(l.Error, "timeout") {
			out = append(out, l.TS)
		}
	}
	return out
}

// ---------------------------------------------------------------------------
// clients

// connRec is one client connection of a load generator.
type connRec struct {
	start, end time.Time // dial started; greeting read (or failure seen)
	name       string    // greeting: the backend's name
	err        error
}

// shortLoad runs workers that each open short connections in a loop:
// connect, read the greeting, close, pause. The pause bounds the rate: each
// closed connection leaves a TIME_WAIT socket on the client's port for a
// minute, and a kernel that does not reuse them for loopback would run out
// of ports to one address after ~28,000 connections.
type shortLoad struct {
	addr     string
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup

	mu   sync.Mutex
	recs []connRec
}

func startShortLoad(addr string, workers int, pause time.Duration) *shortLoad {
	g := &shortLoad{addr: addr, stop: make(chan struct{})}
	for range workers {
		g.wg.Add(1)
		go func() {
			defer g.wg.Done()
			for {
				select {
				case <-g.stop:
					return
				default:
				}
				r := connRec{start: time.Now()}
				r.name, r.err = harness.Once(g.addr, relTimeout)
				r.end = time.Now()
				g.mu.Lock()
				g.recs = append(g.recs, r)
				g.mu.Unlock()
				time.Sleep(pause)
			}
		}()
	}
	return g
}

// snapshot returns a copy of the records so far.
func (g *shortLoad) snapshot() []connRec {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]connRec(nil), g.recs...)
}

// count returns how many records satisfy f.
func (g *shortLoad) count(f func(connRec) bool) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, r := range g.recs {
		if f(r) {
			n++
		}
	}
	return n
}

// Stop stops the workers and returns every record, by start time. It may be
// called more than once.
func (g *shortLoad) Stop() []connRec {
	g.stopOnce.Do(func() { close(g.stop) })
	g.wg.Wait()
	recs := g.snapshot()
	sort.Slice(recs, func(i, j int) bool { return recs[i].start.Before(recs[j].start) })
	return recs
}

// readToEOF reads conn until EOF (or an error) and returns what it read; err
// is nil on a clean EOF.
func readToEOF(conn net.Conn, timeout time.Duration) ([]byte, error) {
	if err := conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return nil, err
	}
	b, err := io.ReadAll(conn)
	return b, err
}

// closeAndDrain half-closes conn, reads until the proxy closes its side and
// closes conn: a fully finished connection.
func closeAndDrain(conn net.Conn) error {
	defer conn.Close()
	if cw, ok := conn.(interface{ CloseWrite() error }); ok {
		if err := cw.CloseWrite(); err != nil {
			return err
		}
	}
	_, err := readToEOF(conn, relTimeout)
	return err
}

// isRefused reports whether err is what a client sees when the proxy closes
// the connection without a backend: EOF or reset before the greeting.
func isRefused(err error) bool {
	return err != nil && (errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		strings.Contains(err.Error(), "connection reset"))
}

// ---------------------------------------------------------------------------
// the pick, simulated

// simBackend is one backend of a service for the reference model of the
// pick rule: its address (the key of its live count), path cost and
// max_connections (0: none).
type simBackend struct {
	addr string
	path int64
	max  int64
}

// newSim returns the reference model of one config generation of a service
// over bes. Its Pick places a connection over a live-count map by address,
// which the caller keeps: a new generation starts with a fresh model, as a
// reload builds a fresh balancer, while the live counts carry over.
func newSim(bes ...simBackend) *costlbtest.Model {
	mbes := make([]costlbtest.Backend, len(bes))
	for i, b := range bes {
		mbes[i] = costlbtest.Backend{Key: b.addr, Path: b.path, Max: b.max}
	}
	return costlbtest.New(mbes...)
}

// ---------------------------------------------------------------------------
// echo workers for held connections

// echoPool keeps held connections busy: workers echo a fresh payload over
// each of their connections in turn, pass after pass, and record any error.
type echoPool struct {
	workers  []*echoWorker
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
	bytes    atomic.Int64
	checks   atomic.Int64

	mu   sync.Mutex
	errs []string
}

type echoWorker struct {
	conns  []*heldConn
	passes atomic.Int64
}

// heldConn is one held client connection and the backend it reached.
type heldConn struct {
	id   int
	name string // greeting: the backend's name
	addr string // the backend's address
	conn net.Conn
	dead atomic.Bool // an echo failed: not used again
}

func startEchoPool(conns []*heldConn, workers int, pause time.Duration) *echoPool {
	p := &echoPool{stop: make(chan struct{})}
	for i := range workers {
		w := &echoWorker{}
		for j := i; j < len(conns); j += workers {
			w.conns = append(w.conns, conns[j])
		}
		p.workers = append(p.workers, w)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			payload := make([]byte, 64)
			var seq uint64
			for {
				for _, hc := range w.conns {
					select {
					case <-p.stop:
						return
					default:
					}
					if hc.dead.Load() {
						continue
					}
					seq++
					fillPayload(payload, uint64(hc.id), seq)
					if err := harness.EchoCheck(hc.conn, payload); err != nil {
						hc.dead.Store(true)
						p.mu.Lock()
						p.errs = append(p.errs, fmt.Sprintf("held connection %d (to %s): %v", hc.id, hc.name, err))
						p.mu.Unlock()
						continue
					}
					p.bytes.Add(int64(len(payload)))
					p.checks.Add(1)
				}
				w.passes.Add(1)
				select {
				case <-p.stop:
					return
				case <-time.After(pause):
				}
			}
		}()
	}
	return p
}

// fillPayload fills p with bytes that differ per connection and per check.
func fillPayload(p []byte, id, seq uint64) {
	x := id*0x9E3779B97F4A7C15 ^ seq*0xBF58476D1CE4E5B9
	for i := range p {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		p[i] = byte(x)
	}
}

// fullPass waits until every worker has finished a whole pass over its
// connections that started after the call: every connection echoed again.
func (p *echoPool) fullPass(t testing.TB) {
	t.Helper()
	start := make([]int64, len(p.workers))
	for i, w := range p.workers {
		start[i] = w.passes.Load()
	}
	harness.WaitFor(t, 60*time.Second, func() bool {
		for i, w := range p.workers {
			if w.passes.Load() < start[i]+2 {
				return false
			}
		}
		return true
	}, "echo workers did not complete a full pass over the held connections")
}

func (p *echoPool) errors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.errs...)
}

// Stop stops the workers; it may be called more than once.
func (p *echoPool) Stop() {
	p.stopOnce.Do(func() { close(p.stop) })
	p.wg.Wait()
}
