package streamcopy

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/costlb/costlb/module/internal/pipepool"

	"github.com/costlb/costlb/module/internal/proxied"
)

// The copy loop, in process: each test joins a "client" and a "backend"
// socket through a Session, as the layer4 handler does, over real loopback
// (or unix) sockets: client <-> down | Session | up <-> backend.

// The tests watch the pools: set before any copy runs.
var watch = new(pipepool.Watch)

func init() { pipepool.SetWatch(watch) }

// connPair returns the two ends of a new stream connection on network
// ("tcp" or "unix").
func connPair(t testing.TB, network string) (net.Conn, net.Conn) {
	t.Helper()
	addr := "127.0.0.1:0"
	if network == "unix" {
		addr = filepath.Join(t.TempDir(), "s")
	}
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	acc := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		acc <- c
	}()
	a, err := net.Dial(network, ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b := <-acc
	if b == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { _ = a.Close(); _ = b.Close() })
	return a, b
}

// wrapped hides a connection's type, so that the copy loop cannot use its
// socket: the buffered path for any other net.Conn (TLS, wrappers).
type wrapped struct{ net.Conn }

func (w wrapped) CloseWrite() error { return w.Conn.(interface{ CloseWrite() error }).CloseWrite() }

// pair is one connection through a Session.
type pair struct {
	client, backend net.Conn
	done            chan Result
}

// modes of the copy loop under test
var copyModes = []struct {
	name           string
	network        string
	wrapDown, wrap bool // hide the proxy's client side / backend side socket
}{
	{"splice-tcp", "tcp", false, false},
	{"splice-unix", "unix", false, false},
	{"buffered-raw-src", "tcp", false, true}, // client socket read on readiness, backend is "TLS"
	{"buffered-wrapped", "tcp", true, true},  // both sides wrapped
}

func startProxied(t testing.TB, network string, wrapDown, wrapUp bool, prefix []byte) *pair {
	t.Helper()
	client, down := connPair(t, network)
	up, backend := connPair(t, network)
	dl, ul := NewLeg(down), NewLeg(up)
	if wrapDown {
		dl = NewLeg(wrapped{down})
	}
	if wrapUp {
		ul = NewLeg(wrapped{up})
	}
	p := &pair{client: client, backend: backend, done: make(chan Result, 1)}
	go func() { p.done <- NewSession(dl, ul).Run(prefix) }()
	return p
}

func (p *pair) wait(t testing.TB) Result {
	t.Helper()
	select {
	case r := <-p.done:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("the session did not end")
	}
	return Result{}
}

// sendAll writes data to w and half-closes it, concurrently; it returns
// the write's error on the channel.
func sendAll(w net.Conn, data []byte) chan error {
	errc := make(chan error, 1)
	go func() {
		_, err := w.Write(data)
		if err == nil {
			err = w.(interface{ CloseWrite() error }).CloseWrite()
		}
		errc <- err
	}()
	return errc
}

func sum(b []byte) [32]byte { return sha256.Sum256(b) }

// TestCopyBothWaysExact sends 8 MiB each way at once, the client's after a
// prefix (bytes layer4 matchers read), and checks every byte, the
// half-closes passing through, the counts and that nothing stays borrowed.
func TestCopyBothWaysExact(t *testing.T) {
	for _, m := range copyModes {
		t.Run(m.name, func(t *testing.T) {
			prefix := []byte("PREFETCHED ")
			up, downData := make([]byte, 8<<20), make([]byte, 8<<20)
			_, _ = rand.Read(up)
			_, _ = rand.Read(downData)
			spliced := watch.Spliced.Load()
			p := startProxied(t, m.network, m.wrapDown, m.wrap, prefix)
			cerr, berr := sendAll(p.client, up), sendAll(p.backend, downData)
			var atBackend, atClient []byte
			var wg sync.WaitGroup
			wg.Add(2)
			go func() { defer wg.Done(); atBackend, _ = io.ReadAll(p.backend) }()
			go func() { defer wg.Done(); atClient, _ = io.ReadAll(p.client) }()
			wg.Wait()
			if err := <-cerr; err != nil {
				t.Fatalf("client write: %v", err)
			}
			if err := <-berr; err != nil {
				t.Fatalf("backend write: %v", err)
			}
			want := append(append([]byte{}, prefix...), up...)
			if sum(atBackend) != sum(want) {
				t.Fatalf("backend got %d bytes, want %d (prefix + 8 MiB), checksums differ", len(atBackend), len(want))
			}
			if sum(atClient) != sum(downData) {
				t.Fatalf("client got %d bytes, want %d, checksums differ", len(atClient), len(downData))
			}
			r := p.wait(t)
			if r.ToClient != int64(len(downData)) || r.ToBackend != int64(len(want)) {
				t.Fatalf("counted %d bytes to the client, %d to the backend; want %d, %d", r.ToClient, r.ToBackend, len(downData), len(want))
			}
			// bulk goes by splice between plain sockets, where the system can
			spliced = watch.Spliced.Load() - spliced
			if m.wrap || !spliceSupported {
				if spliced != 0 {
					t.Fatalf("%d bytes spliced with a wrapped side", spliced)
				}
			} else if spliced < int64(len(up)) {
				t.Fatalf("%d of %d bytes spliced between plain sockets", spliced, len(up)+len(downData))
			}
			checkNothingOut(t)
		})
	}
}

// checkNothingOut fails if a pipe or buffer is still borrowed once every
// copy ended.
func checkNothingOut(t testing.TB) {
	t.Helper()
	waitIdle(t, 0)
}

// waitIdle waits, within a bound, until no pipe and wantBufs buffers are
// borrowed, and returns how many pipes the pool holds then.
func waitIdle(t testing.TB, wantBufs int64) int {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		pipesOut, bufsOut := watch.Pipes.Load(), watch.Bufs.Load()
		if pipesOut == 0 && bufsOut == wantBufs {
			return idlePipes()
		}
		if time.Now().After(deadline) {
			t.Fatalf("idle connections hold %d pipes and %d buffers, want 0 and %d", pipesOut, bufsOut, wantBufs)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestCopyHalfClose: each side's FIN passes through while the other
// direction keeps working, in both orders.
func TestCopyHalfClose(t *testing.T) {
	for _, m := range copyModes {
		for _, clientFirst := range []bool{true, false} {
			name := m.name + "/backend-first"
			if clientFirst {
				name = m.name + "/client-first"
			}
			t.Run(name, func(t *testing.T) {
				p := startProxied(t, m.network, m.wrapDown, m.wrap, nil)
				first, second := p.backend, p.client
				if clientFirst {
					first, second = p.client, p.backend
				}
				// first says something and half-closes
				if err := <-sendAll(first, []byte("bye")); err != nil {
					t.Fatal(err)
				}
				got, err := io.ReadAll(second)
				if err != nil || string(got) != "bye" {
					t.Fatalf("other side read %q, %v; want \"bye\" then EOF", got, err)
				}
				// the other direction still works after the half-close
				if err := <-sendAll(second, []byte("still here")); err != nil {
					t.Fatal(err)
				}
				got, err = io.ReadAll(first)
				if err != nil || string(got) != "still here" {
					t.Fatalf("half-closed side read %q, %v; want \"still here\" then EOF", got, err)
				}
				r := p.wait(t)
				want := proxied.SideBackend
				if clientFirst {
					want = proxied.SideClient
				}
				if r.First != want {
					t.Fatalf("first end recorded as side %d, want %d", r.First, want)
				}
				checkNothingOut(t)
			})
		}
	}
}

// resetConn closes c with a RST.
func resetConn(t testing.TB, c net.Conn) {
	t.Helper()
	if tc, ok := c.(*net.TCPConn); ok {
		if err := tc.SetLinger(0); err != nil {
			t.Fatal(err)
		}
	}
	_ = c.Close()
}

// TestCopyResetMidTransfer: a side that resets in the middle of a transfer
// ends the whole connection at once, and the other peer is reset too.
func TestCopyResetMidTransfer(t *testing.T) {
	for _, m := range copyModes {
		if m.network != "tcp" {
			continue // a reset is TCP's
		}
		for _, backendResets := range []bool{true, false} {
			name := m.name + "/client-aborts"
			if backendResets {
				name = m.name + "/backend-resets"
			}
			t.Run(name, func(t *testing.T) {
				p := startProxied(t, m.network, m.wrapDown, m.wrap, nil)
				resetter, peer := p.client, p.backend
				if backendResets {
					resetter, peer = p.backend, p.client
				}
				// the peer streams to the resetter, which reads a little and resets
				go func() {
					chunk := make([]byte, 64<<10)
					for {
						if _, err := peer.Write(chunk); err != nil {
							return
						}
					}
				}()
				if _, err := io.ReadFull(resetter, make([]byte, 256<<10)); err != nil {
					t.Fatalf("reading the first 256 KiB: %v", err)
				}
				resetConn(t, resetter)
				// the peer's connection ends: reads fail or see EOF, within a bound
				_ = peer.SetReadDeadline(time.Now().Add(5 * time.Second))
				_, err := io.Copy(io.Discard, peer)
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					t.Fatal("the peer's connection did not end after the other side's reset")
				}
				r := p.wait(t)
				want := proxied.SideClient
				if backendResets {
					want = proxied.SideBackend
				}
				if r.First != want {
					t.Fatalf("first end recorded as side %d, want %d", r.First, want)
				}
				checkNothingOut(t)
			})
		}
	}
}

// TestCopySilentClose: a backend that closes before sending a byte is
// recorded as ending first having sent nothing; one that greets is not
// silent; a client that leaves first is not the backend's doing.
func TestCopySilentClose(t *testing.T) {
	p := startProxied(t, "tcp", false, false, []byte("hello"))
	resetConn(t, p.backend)
	r := p.wait(t)
	if r.First != proxied.SideBackend || r.ToClient != 0 || r.EndedAt.IsZero() {
		t.Fatalf("silent reset: first %d, from backend %d, ended at %v; want backend first, 0 bytes, a time", r.First, r.ToClient, r.EndedAt)
	}
	p = startProxied(t, "tcp", false, false, nil)
	_ = p.backend.Close() // FIN, passed on as a half-close: the client closes in turn
	if got, err := io.ReadAll(p.client); err != nil || len(got) != 0 {
		t.Fatalf("client read %q, %v after the backend's FIN; want EOF", got, err)
	}
	_ = p.client.Close()
	if r = p.wait(t); r.First != proxied.SideBackend || r.ToClient != 0 {
		t.Fatalf("silent FIN: first %d, from backend %d", r.First, r.ToClient)
	}
	p = startProxied(t, "tcp", false, false, nil)
	_ = p.client.Close()
	if got, err := io.ReadAll(p.backend); err != nil || len(got) != 0 {
		t.Fatalf("backend read %q, %v after the client's FIN; want EOF", got, err)
	}
	_ = p.backend.Close()
	if r = p.wait(t); r.First != proxied.SideClient {
		t.Fatalf("client left first: recorded side %d", r.First)
	}
}

// openFDs counts this process's open file descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(ents)
}

// TestCopyIdleHoldsNothing: proxied connections that moved data and then
// went idle hold no pipe, no buffer and no file descriptor beyond their
// two sockets each (the four ends here, as both peers are in this process).
func TestCopyIdleHoldsNothing(t *testing.T) {
	for _, m := range copyModes[:3] { // the wrapped mode blocks in Read, holding a buffer by design
		t.Run(m.name, func(t *testing.T) {
			runtime.GC()
			base := openFDs(t)
			const n = 40
			ps := make([]*pair, n)
			for i := range ps {
				ps[i] = startProxied(t, m.network, m.wrapDown, m.wrap, nil)
				payload := bytes.Repeat([]byte{byte(i)}, 64<<10)
				for _, dir := range [][2]net.Conn{{ps[i].client, ps[i].backend}, {ps[i].backend, ps[i].client}} {
					go func() { _, _ = dir[0].Write(payload) }()
					if _, err := io.ReadFull(dir[1], make([]byte, len(payload))); err != nil {
						t.Fatal(err)
					}
				}
			}
			// the wrapped backend side waits in a blocking Read, with a buffer
			wantBufs := int64(0)
			if m.wrap {
				wantBufs = n
			}
			idle := waitIdle(t, wantBufs)
			if got, most := openFDs(t)-base, 4*n+2*idle; got > most {
				t.Fatalf("%d idle connections hold %d file descriptors, want at most %d (4 sockets each + %d pooled pipes)", n, got, most, idle)
			}
			for _, p := range ps {
				_ = p.client.Close()
				_ = p.backend.Close()
				p.wait(t)
			}
			checkNothingOut(t)
		})
	}
}
