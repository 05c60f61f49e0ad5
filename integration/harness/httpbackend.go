package harness

import (
	"crypto/sha1"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// wsGUID is the key suffix of a WebSocket handshake (RFC 6455).
const wsGUID = "258EAFA5-E914-47DA-95CA-C5AB0DC65B11"

// HTTPBackend is an HTTP test server, run in-process, whose every answer
// starts with its name and "\n":
//
//   - GET /hold: sends its name at once, then holds the response open until
//     Release is called or the client goes away: a request in flight.
//   - POST /upload: reads the whole body (however slowly it comes), then
//     answers "<name>\n<bytes read>\n".
//   - GET /ws with a WebSocket handshake: switches protocols, sends its
//     name, then echoes raw bytes until the client closes.
//   - GET /healthz: 200, or 503 while SetHealthy(false).
//   - anything else: its name.
//
// Its methods are safe for concurrent use.
type HTTPBackend struct {
	tb   testing.TB
	name string
	addr string

	inFlight atomic.Int64 // requests being answered now, upgraded ones included
	served   atomic.Int64 // requests answered in all
	sick     atomic.Bool

	mu      sync.Mutex
	release chan struct{} // closed by Release
	srv     *http.Server  // nil while stopped
	closed  bool
}

// StartHTTPBackend starts an HTTPBackend named name on a free 127.0.0.1
// port and registers Close on tb.Cleanup.
func StartHTTPBackend(tb testing.TB, name string) *HTTPBackend {
	tb.Helper()
	return StartHTTPBackendOn(tb, name, "127.0.0.1")
}

// StartHTTPBackendOn is StartHTTPBackend on a free port of host, an
// address of 127.0.0.0/8.
func StartHTTPBackendOn(tb testing.TB, name, host string) *HTTPBackend {
	tb.Helper()
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		tb.Fatalf("StartHTTPBackend %s: %v", name, err)
	}
	b := &HTTPBackend{tb: tb, name: name, addr: ln.Addr().String(), release: make(chan struct{})}
	b.mu.Lock()
	b.serve(ln)
	b.mu.Unlock()
	tb.Cleanup(b.Close)
	return b
}

// Name returns the backend's name.
func (b *HTTPBackend) Name() string { return b.name }

// Addr returns the backend's address, "127.0.0.1:<port>"; it stays the
// same across Stop and Restart.
func (b *HTTPBackend) Addr() string { return b.addr }

// InFlight returns how many requests the backend is answering now.
func (b *HTTPBackend) InFlight() int64 { return b.inFlight.Load() }

// Served returns how many requests the backend has answered in all.
func (b *HTTPBackend) Served() int64 { return b.served.Load() }

// SetHealthy makes GET /healthz answer 200 (true) or 503 (false).
func (b *HTTPBackend) SetHealthy(ok bool) { b.sick.Store(!ok) }

// Release ends every held request (GET /hold) and lets later ones be
// held again until the next Release.
func (b *HTTPBackend) Release() {
	b.mu.Lock()
	close(b.release)
	b.release = make(chan struct{})
	b.mu.Unlock()
}

func (b *HTTPBackend) held() <-chan struct{} {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.release
}

// serve starts an HTTP server on ln; b.mu must be held.
func (b *HTTPBackend) serve(ln net.Listener) {
	b.srv = &http.Server{Handler: http.HandlerFunc(b.handle), ReadHeaderTimeout: 10 * time.Second}
	go func(srv *http.Server) { _ = srv.Serve(ln) }(b.srv)
}

func (b *HTTPBackend) handle(w http.ResponseWriter, r *http.Request) {
	b.inFlight.Add(1)
	defer b.inFlight.Add(-1)
	defer b.served.Add(1)
	switch r.URL.Path {
	case "/hold":
		// Take the release channel before the client can see the name: a
		// Release that follows the name must release this request.
		release := b.held()
		rc := http.NewResponseController(w)
		_, _ = io.WriteString(w, b.name+"\n")
		_ = rc.Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	case "/upload":
		n, _ := io.Copy(io.Discard, r.Body)
		_, _ = fmt.Fprintf(w, "%s\n%d\n", b.name, n)
	case "/ws":
		b.websocket(w, r)
	case "/healthz":
		if b.sick.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		_, _ = io.WriteString(w, b.name+"\n")
	default:
		_, _ = io.WriteString(w, b.name+"\n")
	}
}

// websocket completes a WebSocket handshake, sends the name and echoes
// raw bytes until the client closes: enough for a proxy, which passes an
// upgraded connection on byte for byte.
func (b *HTTPBackend) websocket(w http.ResponseWriter, r *http.Request) {
	key := r.Header.Get("Sec-WebSocket-Key")
	if r.Header.Get("Upgrade") != "websocket" || key == "" {
		http.Error(w, "want a websocket handshake", http.StatusBadRequest)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	sum := sha1.Sum([]byte(key + wsGUID))
	_, _ = fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n%s\n",
		base64.StdEncoding.EncodeToString(sum[:]), b.name)
	if brw.Flush() != nil {
		return
	}
	_, _ = io.Copy(conn, brw)
}

// Stop closes the listener and every connection but upgraded (WebSocket)
// ones; Addr still reports the address, for Restart. Stop and Restart must not run concurrently.
func (b *HTTPBackend) Stop() {
	b.mu.Lock()
	srv := b.srv
	b.srv = nil
	b.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Restart listens again on the same address after Stop, retrying for up to
// 5 s while the address is in use. Call it from the test goroutine.
func (b *HTTPBackend) Restart() {
	b.tb.Helper()
	deadline := time.Now().Add(restartTimeout)
	for {
		ln, err := net.Listen("tcp", b.addr)
		if err == nil {
			b.mu.Lock()
			defer b.mu.Unlock()
			if b.closed || b.srv != nil {
				_ = ln.Close()
				return
			}
			b.serve(ln)
			return
		}
		if !errors.Is(err, syscall.EADDRINUSE) || time.Now().After(deadline) {
			b.tb.Fatalf("HTTPBackend %s: Restart on %s: %v", b.name, b.addr, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Close stops the backend for good and ends held requests. StartHTTPBackend
// registers it on Cleanup; calling it again does nothing.
func (b *HTTPBackend) Close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.closed = true
	b.mu.Unlock()
	b.Release()
	b.Stop()
}
