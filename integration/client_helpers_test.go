package integration

// Test clients: short-connection load, held connections kept echoing, and
// ways to end a connection.

import (
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

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
