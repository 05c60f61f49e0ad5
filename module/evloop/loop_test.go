//go:build linux

package evloop

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/costlb/costlb/module/internal/pipepool"

	"github.com/costlb/costlb/module/internal/proxied"
)

// pairs returns a connected client side (the test's end), the proxy's
// accepted client socket, and likewise a backend: test end and the
// proxy's dialed socket.
type rig struct {
	client, backend     *net.TCPConn // the test's ends
	proxyC, proxyB      *net.TCPConn // what the proxy hands to the loop
	results             chan Result
	conn                *Conn
	clientLn, backendLn net.Listener
}

// The tests count what is spliced: set before any connection runs.
var watch = new(pipepool.Watch)

func init() { pipepool.SetWatch(watch) }

func tcpPair(t *testing.T) (outer, inner *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type res struct {
		c   net.Conn
		err error
	}
	ch := make(chan res, 1)
	go func() { c, err := ln.Accept(); ch <- res{c, err} }()
	o, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	return o.(*net.TCPConn), r.c.(*net.TCPConn)
}

func newRig(t *testing.T, p *Pool) *rig {
	t.Helper()
	r := &rig{results: make(chan Result, 1)}
	r.client, r.proxyC = tcpPair(t)
	r.backend, r.proxyB = tcpPair(t)
	t.Cleanup(func() { r.client.Close(); r.backend.Close() })
	r.conn = NewConn(func(res Result) { r.results <- res })
	if err := p.Add(r.conn, r.proxyC, r.proxyB, nil); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *rig) result(t *testing.T) Result {
	t.Helper()
	select {
	case res := <-r.results:
		return res
	case <-time.After(10 * time.Second):
		t.Fatal("the connection did not end")
		return Result{}
	}
}

func newPool(t *testing.T) *Pool {
	t.Helper()
	p, err := NewPool(2)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

func TestEchoAndHalfCloses(t *testing.T) {
	p := newPool(t)
	r := newRig(t, p)
	buf := make([]byte, 64)
	for i := range 100 {
		req := bytes.Repeat([]byte{byte(i)}, 64)
		if _, err := r.client.Write(req); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(r.backend, buf); err != nil || !bytes.Equal(buf, req) {
			t.Fatalf("request %d: backend got %q, %v", i, buf, err)
		}
		if _, err := r.backend.Write(buf); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(r.client, buf); err != nil || !bytes.Equal(buf, req) {
			t.Fatalf("answer %d: client got %q, %v", i, buf, err)
		}
	}
	// the client's FIN reaches the backend, which can still answer
	if err := r.client.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	if n, err := r.backend.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("backend read after client FIN = %d, %v; want EOF", n, err)
	}
	if _, err := r.backend.Write([]byte("late answer")); err != nil {
		t.Fatal(err)
	}
	if err := r.backend.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(r.client)
	if err != nil || string(got) != "late answer" {
		t.Fatalf("client read after its FIN = %q, %v", got, err)
	}
	res := r.result(t)
	if res.Reset || res.Err != nil || res.First != proxied.SideClient {
		t.Fatalf("result = %+v; want a clean end, the client first", res)
	}
	if res.ToBackend != 6400 || res.ToClient != 6400+11 {
		t.Fatalf("bytes = %d to backend, %d to client; want 6400, 6411", res.ToBackend, res.ToClient)
	}
}

func TestResetPassedOn(t *testing.T) {
	p := newPool(t)
	r := newRig(t, p)
	if _, err := r.client.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	one := make([]byte, 1)
	if _, err := io.ReadFull(r.backend, one); err != nil {
		t.Fatal(err)
	}
	_ = r.backend.SetLinger(0)
	_ = r.backend.Close()
	res := r.result(t)
	if !res.Reset || res.First != proxied.SideBackend || !errors.Is(res.Err, syscall.ECONNRESET) {
		t.Fatalf("result = %+v; want a reset from the backend", res)
	}
	_ = r.client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := r.client.Read(one); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("client read after the backend's reset: %v; want ECONNRESET", err)
	}
}

func TestAbort(t *testing.T) {
	p := newPool(t)
	r := newRig(t, p)
	r.conn.Abort()
	r.conn.Abort() // a second one does nothing
	res := r.result(t)
	if !res.Reset || !errors.Is(res.Err, ErrAborted) || res.First != proxied.SideNone {
		t.Fatalf("result = %+v; want aborted", res)
	}
	one := make([]byte, 1)
	for _, c := range []*net.TCPConn{r.client, r.backend} {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(one); !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("read after abort: %v; want ECONNRESET", err)
		}
	}
}

// A backend that reads slowly: the data comes through whole and in order,
// and the loop holds at most a buffer of it (the client is held back).
func TestSlowReaderBackpressure(t *testing.T) {
	p := newPool(t)
	r := newRig(t, p)
	data := make([]byte, 16<<20)
	_, _ = rand.Read(data)
	go func() {
		_, _ = r.client.Write(data)
		_ = r.client.CloseWrite()
	}()
	// read 512 bytes at a time, the backend takes the stream far slower
	// than the loop's 64 KiB reads bring it. (Not by shrinking its receive
	// buffer: below the window already advertised, the kernel drops what
	// arrives and the sender backs off for minutes.)
	var got bytes.Buffer
	buf := make([]byte, 512)
	for {
		n, err := r.backend.Read(buf)
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got.Bytes(), data) {
		t.Fatalf("backend got %d bytes, not what the client sent (%d)", got.Len(), len(data))
	}
	_ = r.backend.CloseWrite()
	res := r.result(t)
	if res.Reset || res.ToBackend != int64(len(data)) {
		t.Fatalf("result = %+v", res)
	}
}

// Many connections at once, both directions streaming, over two loops;
// afterwards no descriptor is left open.
func TestManyConnectionsNoLeak(t *testing.T) {
	p := newPool(t)
	// Go's own poller opens its descriptors (an epoll and an eventfd) with
	// the process's first socket: count from after one.
	a, b := tcpPair(t)
	a.Close()
	b.Close()
	before := countFDs(t) - 2*pipepool.Idle()
	var wg sync.WaitGroup
	const conns = 50
	rigs := make([]*rig, conns)
	for i := range rigs {
		rigs[i] = newRig(t, p)
	}
	payload := bytes.Repeat([]byte("0123456789"), 30000)
	for _, r := range rigs {
		wg.Add(3)
		go func() { // backend echoes
			defer wg.Done()
			// not by io.Copy: TCPConn to TCPConn splices through pipes
			// from Go's pool, which stay open until a GC finalizes them
			// and would be counted as leaked here
			_, _ = io.Copy(struct{ io.Writer }{r.backend}, struct{ io.Reader }{r.backend})
			_ = r.backend.CloseWrite()
		}()
		go func() {
			defer wg.Done()
			// waited for too: a Close while CloseWrite still holds the
			// socket leaves the descriptor open until CloseWrite returns
			go func() { defer wg.Done(); _, _ = r.client.Write(payload); _ = r.client.CloseWrite() }()
			got, err := io.ReadAll(r.client)
			if err != nil || !bytes.Equal(got, payload) {
				t.Errorf("echo: %d bytes, %v", len(got), err)
			}
		}()
	}
	wg.Wait()
	for _, r := range rigs {
		if res := r.result(t); res.Reset {
			t.Fatalf("result = %+v", res)
		}
		r.client.Close()
		r.backend.Close()
	}
	// the pool's idle pipes (two fds each) close after a few seconds
	if after := countFDs(t) - 2*pipepool.Idle(); after != before {
		t.Fatalf("%d descriptors open after, %d before (the pipe pool's aside)", after, before)
	}
}

func TestClosedPool(t *testing.T) {
	p, err := NewPool(1)
	if err != nil {
		t.Fatal(err)
	}
	r := newRig(t, p)
	p.Close()
	if res := r.result(t); !errors.Is(res.Err, ErrAborted) {
		t.Fatalf("a connection in a closed pool: %+v; want aborted", res)
	}
	a, b := tcpPair(t)
	defer a.Close()
	defer b.Close()
	if err := p.Add(NewConn(nil), a, b, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Add to a closed pool: %v; want ErrClosed", err)
	}
}

func countFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

// The prefix goes to the backend before anything the client sends, and
// counts as sent to it; EndedAt is when the first side ended.
func TestPrefixFirst(t *testing.T) {
	p := newPool(t)
	r := &rig{results: make(chan Result, 1)}
	r.client, r.proxyC = tcpPair(t)
	r.backend, r.proxyB = tcpPair(t)
	defer r.client.Close()
	defer r.backend.Close()
	r.conn = NewConn(func(res Result) { r.results <- res })
	if _, err := r.client.Write([]byte(" and the rest")); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := p.Add(r.conn, r.proxyC, r.proxyB, []byte("matched")); err != nil {
		t.Fatal(err)
	}
	_ = r.client.CloseWrite()
	got, err := io.ReadAll(r.backend)
	if err != nil || string(got) != "matched and the rest" {
		t.Fatalf("backend got %q, %v", got, err)
	}
	_ = r.backend.CloseWrite()
	res := r.result(t)
	if res.ToBackend != int64(len(got)) || res.First != proxied.SideClient || res.EndedAt.Before(start) || res.EndedAt.After(time.Now()) {
		t.Fatalf("result = %+v; want %d bytes to the backend, the client first, ended after %v", res, len(got), start)
	}
}

// An abort before Add ends the connection as soon as it is added.
func TestAbortBeforeAdd(t *testing.T) {
	p := newPool(t)
	results := make(chan Result, 1)
	c := NewConn(func(res Result) { results <- res })
	c.Abort()
	client, proxyC := tcpPair(t)
	backend, proxyB := tcpPair(t)
	defer client.Close()
	defer backend.Close()
	if err := p.Add(c, proxyC, proxyB, nil); err != nil {
		t.Fatal(err)
	}
	select {
	case res := <-results:
		if !errors.Is(res.Err, ErrAborted) {
			t.Fatalf("result = %+v; want aborted", res)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the connection aborted before Add did not end")
	}
	_ = client.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := client.Read(make([]byte, 1)); !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("client read: %v; want ECONNRESET", err)
	}
}

// A bulk transfer each way goes by splice once a read fills the loop's
// buffer: whole and in order, and the pipes it took are back in the pool,
// empty, when it ends.
func TestBulkSplices(t *testing.T) {
	p := newPool(t)
	r := newRig(t, p)
	up, down := make([]byte, 32<<20), make([]byte, 32<<20)
	_, _ = rand.Read(up)
	_, _ = rand.Read(down)
	before := watch.Spliced.Load()
	go func() { _, _ = r.client.Write(up); _ = r.client.CloseWrite() }()
	go func() { _, _ = r.backend.Write(down); _ = r.backend.CloseWrite() }()
	var atBackend []byte
	done := make(chan error, 1)
	go func() {
		var err error
		atBackend, err = io.ReadAll(r.backend)
		done <- err
	}()
	atClient, err := io.ReadAll(r.client)
	if err != nil || !bytes.Equal(atClient, down) {
		t.Fatalf("client got %d bytes (%v), not the backend's %d", len(atClient), err, len(down))
	}
	if err := <-done; err != nil || !bytes.Equal(atBackend, up) {
		t.Fatalf("backend got %d bytes (%v), not the client's %d", len(atBackend), err, len(up))
	}
	res := r.result(t)
	if res.Reset || res.ToBackend != int64(len(up)) || res.ToClient != int64(len(down)) {
		t.Fatalf("result = %+v", res)
	}
	// most of it: the first read of each burst is a read
	if n := watch.Spliced.Load() - before; n < int64(len(up)+len(down))/2 {
		t.Fatalf("%d of %d bytes spliced", n, len(up)+len(down))
	}
	// every pipe taken for a burst was given back: counted exactly, not by
	// the pool's idle list, which a slow run may have trimmed already
	// (a pipe idle for 5 s is closed)
	if held := watch.Pipes.Load(); held != 0 {
		t.Fatalf("%d pipes not given back after the transfer", held)
	}
}
