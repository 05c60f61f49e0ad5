package harness

import (
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// restartTimeout bounds how long Restart retries a busy address.
const restartTimeout = 5 * time.Second

// BackendOption changes how a Backend treats the connections it accepts.
type BackendOption func(*backendOptions)

type backendOptions struct {
	delay      time.Duration
	holdClose  time.Duration
	resetAfter int64
	host       string                                              // "127.0.0.1" unless WithListen
	listen     func(network, address string) (net.Listener, error) // net.Listen unless WithListen
}

// WithListen makes the backend listen on a free port of host through
// listen (for StartBackend and Restart) instead of net.Listen on 127.0.0.1:
// a backend inside a network namespace listens through that namespace.
func WithListen(host string, listen func(network, address string) (net.Listener, error)) BackendOption {
	return func(o *backendOptions) { o.host, o.listen = host, listen }
}

// WithDelay makes the backend wait d after accepting a connection before it
// sends its greeting: a slow site.
func WithDelay(d time.Duration) BackendOption {
	return func(o *backendOptions) { o.delay = d }
}

// WithHoldClose makes the backend close each connection d after accepting
// it: a server that ends connections itself.
func WithHoldClose(d time.Duration) BackendOption {
	return func(o *backendOptions) { o.holdClose = d }
}

// WithResetAfter makes the backend reset each connection (TCP RST, via
// SetLinger(0)) once it has echoed n bytes; the greeting does not count.
func WithResetAfter(n int64) BackendOption {
	return func(o *backendOptions) { o.resetAfter = n }
}

// Backend is a plain TCP test server on 127.0.0.1, run in-process. On each
// connection it writes its name and "\n", then echoes everything it reads
// until the client closes. Its methods are safe for concurrent use.
type Backend struct {
	tb   testing.TB
	name string
	addr string
	opts backendOptions

	accepted atomic.Int64
	open     atomic.Int64
	maxOpen  atomic.Int64 // the highest open ever reached

	mu     sync.Mutex
	ln     net.Listener              // nil while stopped
	conns  map[*backendConn]struct{} // open connections
	closed bool                      // Close was called

	wg sync.WaitGroup // accept loops and connection handlers
}

type backendConn struct {
	net.Conn
	once sync.Once
	done chan struct{} // closed by shut
}

// shut closes the connection and wakes its handler if it is waiting.
func (c *backendConn) shut() {
	c.once.Do(func() {
		close(c.done)
		_ = c.Conn.Close()
	})
}

// StartBackend starts a Backend named name on a free 127.0.0.1 port (or
// where WithListen says) and registers Close on tb.Cleanup.
func StartBackend(tb testing.TB, name string, opts ...BackendOption) *Backend {
	tb.Helper()
	b := &Backend{tb: tb, name: name, conns: make(map[*backendConn]struct{})}
	b.opts = backendOptions{host: "127.0.0.1", listen: net.Listen}
	for _, o := range opts {
		o(&b.opts)
	}
	ln, err := b.opts.listen("tcp", net.JoinHostPort(b.opts.host, "0"))
	if err != nil {
		tb.Fatalf("StartBackend %s: %v", name, err)
	}
	b.addr = ln.Addr().String()
	b.mu.Lock()
	b.serve(ln)
	b.mu.Unlock()
	tb.Cleanup(b.Close)
	return b
}

// Name returns the backend's name, the greeting it sends without "\n".
func (b *Backend) Name() string { return b.name }

// Addr returns the backend's address, "127.0.0.1:<port>"; it stays the same
// across Stop and Restart.
func (b *Backend) Addr() string { return b.addr }

// Accepted returns how many connections the backend has accepted in all.
func (b *Backend) Accepted() int64 { return b.accepted.Load() }

// Open returns how many of its connections are open now.
func (b *Backend) Open() int64 { return b.open.Load() }

// MaxOpen returns the most connections the backend has had open at once,
// since it started: a connection is open from its accept until its
// handler has closed it.
func (b *Backend) MaxOpen() int64 { return b.maxOpen.Load() }

// opened counts an accepted connection as open and raises MaxOpen if need be.
func (b *Backend) opened() {
	n := b.open.Add(1)
	for {
		m := b.maxOpen.Load()
		if n <= m || b.maxOpen.CompareAndSwap(m, n) {
			return
		}
	}
}

// serve makes ln the backend's listener and starts its accept loop. b.mu
// must be held.
func (b *Backend) serve(ln net.Listener) {
	b.ln = ln
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					continue
				}
				return // listener closed
			}
			bc := &backendConn{Conn: c, done: make(chan struct{})}
			b.mu.Lock()
			if b.ln != ln { // stopped meanwhile
				b.mu.Unlock()
				_ = c.Close()
				continue
			}
			b.conns[bc] = struct{}{}
			b.accepted.Add(1)
			b.opened()
			b.wg.Add(1)
			b.mu.Unlock()
			go b.handle(bc)
		}
	}()
}

func (b *Backend) handle(c *backendConn) {
	defer b.wg.Done()
	defer func() {
		c.shut()
		b.mu.Lock()
		delete(b.conns, c)
		b.mu.Unlock()
		b.open.Add(-1)
	}()

	if d := b.opts.holdClose; d > 0 {
		t := time.AfterFunc(d, c.shut)
		defer t.Stop()
	}
	if d := b.opts.delay; d > 0 {
		t := time.NewTimer(d)
		select {
		case <-t.C:
		case <-c.done:
			t.Stop()
			return
		}
	}
	if _, err := c.Write([]byte(b.name + "\n")); err != nil {
		return
	}

	buf := make([]byte, 32*1024)
	var echoed int64
	for {
		n, err := c.Read(buf)
		if n > 0 {
			p := buf[:n]
			reset := false
			if lim := b.opts.resetAfter; lim > 0 && echoed+int64(n) >= lim {
				p = p[:lim-echoed]
				reset = true
			}
			if _, werr := c.Write(p); werr != nil {
				return
			}
			echoed += int64(len(p))
			if reset {
				if tc, ok := c.Conn.(*net.TCPConn); ok {
					_ = tc.SetLinger(0)
				}
				return // shut closes it: with linger 0 that sends RST
			}
		}
		if err != nil {
			return
		}
	}
}

// Stop closes the listener and every open connection, and returns once
// their handlers have finished (Open is then 0). Addr still reports the
// address, for Restart. Stop and Restart must not run concurrently.
func (b *Backend) Stop() {
	b.mu.Lock()
	ln := b.ln
	b.ln = nil
	conns := make([]*backendConn, 0, len(b.conns))
	for c := range b.conns {
		conns = append(conns, c)
	}
	b.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
	for _, c := range conns {
		c.shut()
	}
	b.wg.Wait()
}

// Restart listens again on the same address after Stop, retrying for up to
// 5 s while the address is in use. It does nothing if the backend is
// running, and fails the test (so call it from the test goroutine) if it
// cannot listen or the backend was closed.
func (b *Backend) Restart() {
	b.tb.Helper()
	b.mu.Lock()
	running, closed := b.ln != nil, b.closed
	b.mu.Unlock()
	if closed {
		b.tb.Fatalf("Backend %s: Restart after Close", b.name)
	}
	if running {
		return
	}
	deadline := time.Now().Add(restartTimeout)
	for {
		ln, err := b.opts.listen("tcp", b.addr)
		if err == nil {
			b.mu.Lock()
			defer b.mu.Unlock()
			if b.closed || b.ln != nil { // raced with Close or another Restart
				_ = ln.Close()
				return
			}
			b.serve(ln)
			return
		}
		if !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			b.tb.Fatalf("Backend %s: Restart on %s: %v", b.name, b.addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Close stops the backend for good (see Stop). StartBackend registers it on
// Cleanup; calling it again does nothing.
func (b *Backend) Close() {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	b.Stop()
}
