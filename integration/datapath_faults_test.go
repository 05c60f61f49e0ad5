package integration

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"flag"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// transferMiB is the size of the byte-exact transfer test, each way.
var transferMiB = flag.Int("transfer-mib", 1024, "MiB sent each way by TestTransferByteExact")

// TestHalfCloseBothWays: a FIN from either side reaches the other while
// the opposite direction keeps carrying data.
func TestHalfCloseBothWays(t *testing.T) {
	onDataPaths(t, func(t *testing.T, route routeFunc) {
		echo := startInfoBackend(t, "echo", listenTCP(t, "127.0.0.1:0"), false)
		first := listenTCP(t, "127.0.0.1:0") // a backend that half-closes first
		l1, l2 := harness.FreeAddr(t), harness.FreeAddr(t)
		c := harness.StartCaddy(t, costlbCaddyfile("site east",
			route(l1, `backend east %s`, echo.Addr()),
			route(l2, `backend east %s`, first.Addr()),
		), "caddyfile")

		// the client half-closes first: the echo backend sees EOF only through
		// costlb, echoes everything and half-closes in turn
		line, conn := greetLine(t, l1)
		if got := echoRest(t, conn, "client FIN first"); got != "client FIN first" {
			t.Fatalf("after the client's half-close the backend sent %q (greeting %q)", got, line)
		}
		conn.Close()

		// the backend half-closes first, then reads what the client still sends
		late := make(chan string, 1)
		go func() {
			bc, err := first.Accept()
			if err != nil {
				late <- err.Error()
				return
			}
			defer bc.Close()
			_, _ = io.WriteString(bc, "server FIN first")
			closeWrite(bc)
			got, _ := io.ReadAll(bc)
			late <- string(got)
		}()
		conn, err := net.DialTimeout("tcp", l2, relTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(relTimeout))
		got, err := io.ReadAll(conn)
		if err != nil || string(got) != "server FIN first" {
			t.Fatalf("client read %q, %v; want the backend's words, then EOF", got, err)
		}
		if got := echoRest(t, conn, "still talking"); got != "" {
			t.Fatalf("read %q after EOF", got)
		}
		if s := <-late; s != "still talking" {
			t.Fatalf("after its own half-close the backend received %q, want \"still talking\"", s)
		}
		waitAllLiveZero(t, c, relTimeout)
	})
}

// streamUntilEnd writes to c until a write fails, and reads from it until
// a read fails or EOF; it returns both errors (io.EOF for EOF), the read's
// first. A write still blocked when the read ended is not waited for.
func streamUntilEnd(c net.Conn, deadline time.Time) []error {
	_ = c.SetDeadline(deadline)
	werr := make(chan error, 1)
	go func() {
		chunk := make([]byte, 32<<10)
		for {
			if _, err := c.Write(chunk); err != nil {
				werr <- err
				return
			}
		}
	}()
	_, err := io.Copy(io.Discard, c)
	if err == nil {
		err = io.EOF
	}
	errs := []error{err}
	select {
	case err := <-werr:
		errs = append(errs, err)
	case <-time.After(time.Second):
	}
	return errs
}

// wasReset reports whether errs (from streamUntilEnd) show the connection
// reset by its peer. A reset reaches only the first socket call after it:
// the read or the concurrent write, whichever comes first.
func wasReset(errs []error) bool {
	for _, err := range errs {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return false
		}
	}
	for _, err := range errs {
		if errors.Is(err, syscall.ECONNRESET) {
			return true
		}
	}
	return false
}

// TestAbortMidTransfer: a client that aborts (RST) in the middle of a
// transfer resets the backend's connection, and a backend that resets
// resets the client's; both end at once, and the counts go back to 0.
func TestAbortMidTransfer(t *testing.T) {
	onDataPaths(t, func(t *testing.T, route routeFunc) {
		resetting := harness.StartBackend(t, "resetter", harness.WithResetAfter(4<<20))
		sink := listenTCP(t, "127.0.0.1:0")
		l1, l2 := harness.FreeAddr(t), harness.FreeAddr(t)
		c := harness.StartCaddy(t, costlbCaddyfile("site east",
			route(l1, `backend east %s`, resetting.Addr()),
			route(l2, `backend east %s`, sink.Addr()),
		), "caddyfile")

		// the backend resets after echoing 4 MiB
		_, conn := greetLine(t, l1)
		start := time.Now()
		errs := streamUntilEnd(conn, time.Now().Add(relTimeout))
		conn.Close()
		if !wasReset(errs) {
			t.Fatalf("after the backend's reset the client's connection ended with %v, want a reset", errs)
		}
		t.Logf("backend reset reached the client after %v", time.Since(start))

		// the client aborts while the backend streams to it
		ended := make(chan []error, 1)
		go func() {
			bc, err := sink.Accept()
			if err != nil {
				ended <- []error{err}
				return
			}
			defer bc.Close()
			ended <- streamUntilEnd(bc, time.Now().Add(relTimeout))
		}()
		conn, err := net.DialTimeout("tcp", l2, relTimeout)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(conn, make([]byte, 1<<20)); err != nil {
			t.Fatalf("reading the first MiB: %v", err)
		}
		_ = conn.(*net.TCPConn).SetLinger(0)
		start = time.Now()
		conn.Close()
		if errs := <-ended; !wasReset(errs) {
			t.Fatalf("after the client's abort the backend's connection ended with %v, want a reset", errs)
		}
		t.Logf("client abort reached the backend after %v", time.Since(start))
		waitAllLiveZero(t, c, relTimeout)
	})
}

// TestTransferByteExact sends -transfer-mib MiB (default 1 GiB) through
// costlb to an echo backend and reads it back, checksumming both ways.
func TestTransferByteExact(t *testing.T) {
	onDataPaths(t, func(t *testing.T, route routeFunc) {
		b := harness.StartBackend(t, "bulk")
		listen := harness.FreeAddr(t)
		c := harness.StartCaddy(t, costlbCaddyfile("site east", route(listen, `backend east %s`, b.Addr())), "caddyfile")
		_, conn, err := harness.Hold(listen, relTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		size := int64(*transferMiB) << 20
		// bound the time by a floor of 20 MB/s each way: far below any real
		// rate, so only a stall fails it
		limit := 30*time.Second + time.Duration(size/20e6)*time.Second
		_ = conn.SetDeadline(time.Now().Add(limit))
		start := time.Now()
		sent := make(chan [32]byte, 1)
		go func() {
			h := sha256.New()
			src := rand.NewChaCha8([32]byte{1})
			buf := make([]byte, 256<<10)
			for left := size; left > 0; {
				n := int(min(int64(len(buf)), left))
				_, _ = src.Read(buf[:n])
				h.Write(buf[:n])
				if _, err := conn.Write(buf[:n]); err != nil {
					break
				}
				left -= int64(n)
			}
			closeWrite(conn)
			var s [32]byte
			copy(s[:], h.Sum(nil))
			sent <- s
		}()
		h := sha256.New()
		n, err := io.Copy(h, conn)
		want := <-sent
		if err != nil || n != size {
			t.Fatalf("received %d of %d bytes back: %v", n, size, err)
		}
		if !bytes.Equal(h.Sum(nil), want[:]) {
			t.Fatalf("the %d bytes echoed back differ from those sent (sha256)", size)
		}
		el := time.Since(start)
		t.Logf("%d MiB each way in %v (%.0f MB/s each way)", size>>20, el, float64(size)/el.Seconds()/1e6)
		waitAllLiveZero(t, c, relTimeout)
	})
}

// TestBlackholeBoundedByDialTimeout: a backend whose accept queue is full
// never answers a dial; dial_timeout, and lb_try_duration for the whole
// attempt, end the client's wait, and the timeout is a passive failure.
func TestBlackholeBoundedByDialTimeout(t *testing.T) {
	hole := blackhole(t)
	l1, l2 := harness.FreeAddr(t), harness.FreeAddr(t)
	c := harness.StartCaddy(t, costlbCaddyfile("site east",
		costlbRoute(l1, `
			name bydial
			backend east %s
			dial_timeout 400ms
			fail_duration 1m`, hole),
		costlbRoute(l2, `
			name bytry
			backend east %s
			dial_timeout 1m
			lb_try_duration 700ms
			lb_try_interval 100ms`, hole),
	), "caddyfile")
	for _, tc := range []struct {
		listen   string
		min, max time.Duration
	}{{l1, 350 * time.Millisecond, 3 * time.Second}, {l2, 600 * time.Millisecond, 3 * time.Second}} {
		conn, err := net.DialTimeout("tcp", tc.listen, relTimeout)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_ = conn.SetReadDeadline(time.Now().Add(relTimeout))
		n, err := conn.Read(make([]byte, 1))
		took := time.Since(start)
		conn.Close()
		if n != 0 || err == nil {
			t.Fatalf("%s: read %d bytes from a blackholed backend", tc.listen, n)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("%s: the client still waited after %v", tc.listen, relTimeout)
		}
		if took < tc.min || took > tc.max {
			t.Fatalf("%s: the client's connection ended after %v, want %v to %v", tc.listen, took, tc.min, tc.max)
		}
		t.Logf("%s: ended after %v", tc.listen, took)
	}
	v := mustView(t, c)
	if b := mustBackend(t, mustService(t, v, "bydial"), hole); b.Healthy {
		t.Fatal("a dial that timed out is not a passive failure")
	}
	if b := mustBackend(t, mustService(t, v, "bytry"), hole); b.Total != 1 {
		t.Fatalf("%d tries within lb_try_duration 700ms with dial_timeout 1m; want 1: its dial has the whole duration", b.Total)
	}
	waitAllLiveZero(t, c, relTimeout)
}

// churn runs n connections of f against addr, k at a time.
func churn(t *testing.T, n, k int, f func(i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	sem := make(chan struct{}, k)
	for i := 0; i < n; i++ {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := f(i); err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}
