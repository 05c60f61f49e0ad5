package proxyconn

import (
	"bytes"
	"crypto/rand"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/costlb/costlb/costlb"
	"github.com/costlb/costlb/integration/harness"
	"github.com/costlb/costlb/module/evloop"
)

// testClient is a plain TCP client connection with bytes "matchers" read.
type testClient struct {
	*net.TCPConn
	prefix []byte
}

func (c testClient) Socket() net.Conn                      { return c.TCPConn }
func (c testClient) Prefix() []byte                        { return c.prefix }
func (c testClient) Replace(s string) string               { return s }
func (c testClient) AdoptTLS(base *tls.Config) *tls.Config { return base }
func (c testClient) ProxyAddrs() (net.Addr, net.Addr)      { return c.RemoteAddr(), c.LocalAddr() }

// gauge counts Inc and Dec calls.
type gauge struct{ inc, dec atomic.Int64 }

func (g *gauge) Inc() { g.inc.Add(1) }
func (g *gauge) Dec() { g.dec.Add(1) }

// watch is close_if_unhealthy's tracking.
type watch struct {
	mu               sync.Mutex
	open             map[Aborter]bool
	tracked, untrack int
}

func (w *watch) Track(a Aborter) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.open[a] = true
	w.tracked++
}

func (w *watch) Untrack(a Aborter) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.open, a)
	w.untrack++
}

func (w *watch) abortAll() {
	w.mu.Lock()
	var open []Aborter
	for a := range w.open {
		open = append(open, a)
	}
	w.mu.Unlock()
	for _, a := range open {
		a.Abort()
	}
}

// rig is one connection handed to Run: the test's client and backend
// ends, what the connection reports to, and its live count.
type rig struct {
	client, backend *net.TCPConn
	counter         *costlb.Counter
	active          gauge
	watch           watch
	ended           chan Result
	b               Backend
	returned        chan struct{}
}

// engines are both engines: the goroutine copy loop, and the event loop
// where this system has one.
func engines(t *testing.T) map[string]*evloop.Pool {
	out := map[string]*evloop.Pool{"goroutines": nil}
	if p, err := evloop.NewPool(1); err == nil {
		t.Cleanup(p.Close)
		out["evloop"] = p
	}
	return out
}

func pair(t *testing.T, ln net.Listener) (outer, inner *net.TCPConn) {
	t.Helper()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// start dials a backend through a Dialer for a client connection and
// hands both to Run, counted on a live count of its own.
func start(t *testing.T, loops *evloop.Pool, prefix []byte) *rig {
	t.Helper()
	cln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	bln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cln.Close(); _ = bln.Close() })
	r := &rig{ended: make(chan Result, 2), returned: make(chan struct{})}
	r.watch.open = make(map[Aborter]bool)
	r.b = Backend{Active: &r.active, Watch: &r.watch, Ended: func(res Result, lasted time.Duration) {
		if lasted < 0 {
			t.Errorf("lasted %v", lasted)
		}
		r.ended <- res
	}}
	var down *net.TCPConn
	r.client, down = pair(t, cln)
	d, err := NewDialer(Target{Network: "tcp", Addr: bln.Addr().String(), Host: "127.0.0.1", Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	client := testClient{down, prefix}
	up, err := d.Dial(client, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := bln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	r.backend = b.(*net.TCPConn)
	t.Cleanup(func() { _ = r.client.Close(); _ = r.backend.Close() })
	reg := costlb.NewRegistry()
	r.counter = reg.Counter("b")
	bal, err := costlb.New([]costlb.Backend{{Site: "a", Address: "b", Counter: r.counter, Healthy: func() bool { return true }}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var tk costlb.Ticket
	if bal.Pick(&tk) != 0 || r.counter.Live() != 1 {
		t.Fatalf("pick: live %d", r.counter.Live())
	}
	go func() {
		defer close(r.returned)
		Run(loops, client, up, &r.b, &tk)
		if tk.Held() != nil {
			t.Error("Run left the count on the caller's ticket")
		}
	}()
	return r
}

// end waits for the connection's end and checks that everything it
// holds was given back exactly once.
func (r *rig) end(t *testing.T) Result {
	t.Helper()
	var res Result
	select {
	case res = <-r.ended:
	case <-time.After(5 * time.Second):
		t.Fatal("the connection did not end")
	}
	<-r.returned
	select {
	case again := <-r.ended:
		t.Fatalf("ended twice: %+v", again)
	default:
	}
	// on the event loop, done runs on the loop's goroutine: Ended first,
	// then the tracking, the gauge and, last, the count, so the count
	// reaching 0 is what says done has finished
	harness.WaitFor(t, 5*time.Second, func() bool { return r.counter.Live() == 0 }, "the live count is not 0 5 s after the end")
	if r.active.inc.Load() != 1 || r.active.dec.Load() != 1 {
		t.Errorf("active gauge: %d Inc, %d Dec; want 1 each", r.active.inc.Load(), r.active.dec.Load())
	}
	r.watch.mu.Lock()
	defer r.watch.mu.Unlock()
	if r.watch.tracked != 1 || r.watch.untrack != 1 || len(r.watch.open) != 0 {
		t.Errorf("close_if_unhealthy tracking: %d tracked, %d untracked, %d open; want 1, 1, 0", r.watch.tracked, r.watch.untrack, len(r.watch.open))
	}
	return res
}

// TestRunBothWays: on either engine, the bytes each way arrive exact
// (the prefix first), half-closes pass, and the end reports the same
// result and gives back the count, the gauge and the tracking once.
func TestRunBothWays(t *testing.T) {
	for name, loops := range engines(t) {
		t.Run(name, func(t *testing.T) {
			prefix := []byte("MATCHED ")
			up, down := make([]byte, 1<<20), make([]byte, 1<<20)
			_, _ = rand.Read(up)
			_, _ = rand.Read(down)
			r := start(t, loops, prefix)
			go func() { _, _ = r.client.Write(up); _ = r.client.CloseWrite() }()
			var atBackend []byte
			read := make(chan error, 1)
			go func() {
				var err error
				atBackend, err = io.ReadAll(r.backend)
				read <- err
			}()
			if err := <-read; err != nil || !bytes.Equal(atBackend, append(append([]byte{}, prefix...), up...)) {
				t.Fatalf("backend got %d bytes (%v), want the prefix and %d", len(atBackend), err, len(up))
			}
			// the client's FIN passed; the backend still sends
			go func() { _, _ = r.backend.Write(down); _ = r.backend.CloseWrite() }()
			atClient, err := io.ReadAll(r.client)
			if err != nil || !bytes.Equal(atClient, down) {
				t.Fatalf("client got %d bytes (%v), want %d", len(atClient), err, len(down))
			}
			res := r.end(t)
			if res.ToBackend != int64(len(prefix)+len(up)) || res.ToClient != int64(len(down)) || res.First != SideClient || res.Reset {
				t.Fatalf("result %+v; want %d to the backend, %d to the client, the client first, no reset", res, len(prefix)+len(up), len(down))
			}
		})
	}
}

// TestRunAbort: close_if_unhealthy's abort ends a connection on either
// engine, the end reports it and gives everything back once.
func TestRunAbort(t *testing.T) {
	for name, loops := range engines(t) {
		t.Run(name, func(t *testing.T) {
			r := start(t, loops, nil)
			if _, err := r.client.Write([]byte("x")); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(r.backend, make([]byte, 1)); err != nil {
				t.Fatal(err)
			}
			r.watch.abortAll()
			res := r.end(t)
			if !errors.Is(res.Err, ErrAborted) || res.First != SideNone {
				t.Fatalf("result %+v; want ErrAborted, no side first", res)
			}
			if _, err := r.client.Read(make([]byte, 1)); err == nil {
				t.Fatal("the client connection is still open after the abort")
			}
		})
	}
}
