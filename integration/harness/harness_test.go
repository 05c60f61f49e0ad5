package harness

import (
	"bytes"
	"errors"
	"io"
	"net"
	"net/url"
	"os"
	"syscall"
	"testing"
	"time"
)

const timeout = 5 * time.Second

func TestBackendGreetEchoStopRestart(t *testing.T) {
	b := StartBackend(t, "one")
	name, conn, err := Hold(b.Addr(), timeout)
	if err != nil || name != "one" {
		t.Fatalf("Hold = %q, %v", name, err)
	}
	payload := bytes.Repeat([]byte("0123456789abcdef"), 64*1024) // 1 MiB: larger than socket buffers
	if err := EchoCheck(conn, payload); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, timeout, func() bool { return b.Open() == 1 && b.Accepted() == 1 }, "one open connection")

	addr := b.Addr()
	b.Stop()
	if b.Open() != 0 {
		t.Fatalf("Open after Stop = %d", b.Open())
	}
	if err := conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("held connection still readable after Stop")
	}
	conn.Close()
	if _, err := Once(addr, time.Second); err == nil {
		t.Fatal("Once succeeded on a stopped backend")
	}

	b.Restart()
	if b.Addr() != addr {
		t.Fatalf("Addr changed across Restart: %s -> %s", addr, b.Addr())
	}
	if name, err := Once(addr, timeout); err != nil || name != "one" {
		t.Fatalf("Once after Restart = %q, %v", name, err)
	}
	WaitFor(t, timeout, func() bool { return b.Open() == 0 && b.Accepted() == 2 }, "accepted 2, none open")
}

// TestBackendMaxOpen: MaxOpen is the peak of simultaneously open
// connections, not the current count nor the total.
func TestBackendMaxOpen(t *testing.T) {
	b := StartBackend(t, "peak")
	var conns []io.Closer
	for range 3 {
		_, c, err := Hold(b.Addr(), timeout)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	if got := b.MaxOpen(); got != 3 {
		t.Fatalf("MaxOpen with 3 open = %d, want 3", got)
	}
	for _, c := range conns {
		c.Close()
	}
	WaitFor(t, timeout, func() bool { return b.Open() == 0 }, "all closed")
	for range 2 {
		if _, err := Once(b.Addr(), timeout); err != nil {
			t.Fatal(err)
		}
	}
	if got, acc := b.MaxOpen(), b.Accepted(); got != 3 || acc != 5 {
		t.Fatalf("after closing and 2 more one at a time: MaxOpen %d (want 3), Accepted %d (want 5)", got, acc)
	}
}

func TestBackendDelay(t *testing.T) {
	b := StartBackend(t, "slow", WithDelay(300*time.Millisecond))
	start := time.Now()
	if _, err := Once(b.Addr(), timeout); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 300*time.Millisecond {
		t.Fatalf("greeting after %v, want >= 300ms", d)
	}
	if _, err := Once(b.Addr(), 100*time.Millisecond); err == nil {
		t.Fatal("Once with a timeout shorter than the delay succeeded")
	}
	// A connection waiting out its delay must not hold up Close: with a
	// delay of 20 s, once the backend took the connection, Close returns
	// long before the greeting would be due.
	const long = 20 * time.Second
	slower := StartBackend(t, "slower", WithDelay(long))
	_, _, _ = Hold(slower.Addr(), 10*time.Millisecond) // gives up: the backend still waits
	WaitFor(t, timeout, func() bool { return slower.Open() == 1 }, "the backend waiting out its delay on a connection")
	start = time.Now()
	slower.Close()
	if d := time.Since(start); d > long/2 {
		t.Fatalf("Close took %v: it waited for a connection's %v delay", d, long)
	}
}

func TestBackendHoldClose(t *testing.T) {
	b := StartBackend(t, "brief", WithHoldClose(200*time.Millisecond))
	_, conn, err := Hold(b.Addr(), timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	start := time.Now()
	if _, err := io.ReadAll(conn); err != nil {
		t.Fatalf("read until close: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("backend closed after %v", d)
	}
	WaitFor(t, timeout, func() bool { return b.Open() == 0 }, "connection closed by backend")
}

func TestBackendResetAfter(t *testing.T) {
	b := StartBackend(t, "rst", WithResetAfter(10))
	_, conn, err := Hold(b.Addr(), timeout)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.Write([]byte("0123456789abcdefghij")); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	got, err := io.ReadAll(conn)
	if string(got) != "0123456789" {
		t.Fatalf("echoed %q before reset, want 10 bytes", got)
	}
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read error = %v, want ECONNRESET", err)
	}
}

func TestFreeAddr(t *testing.T) {
	if a := FreeAddr(t); len(a) < len("127.0.0.1:1") || a[:10] != "127.0.0.1:" {
		t.Fatalf("FreeAddr = %q", a)
	}
}

// TestIsRestartErr: the errors an admin request meets while Caddy replaces
// its admin server are retried, as the HTTP client wraps them; others are
// not.
func TestIsRestartErr(t *testing.T) {
	wrap := func(errno syscall.Errno) error {
		return &url.Error{Op: "Get", URL: "http://127.0.0.1:1/", Err: &net.OpError{Op: "write", Net: "tcp", Err: os.NewSyscallError("write", errno)}}
	}
	for _, errno := range []syscall.Errno{syscall.ECONNREFUSED, syscall.ECONNRESET, syscall.EPIPE} {
		if !isRestartErr(wrap(errno)) {
			t.Errorf("isRestartErr(%v) = false, want true", wrap(errno))
		}
	}
	if !isRestartErr(&url.Error{Op: "Get", URL: "http://127.0.0.1:1/", Err: io.EOF}) {
		t.Error("isRestartErr(EOF) = false, want true")
	}
	if isRestartErr(wrap(syscall.EACCES)) {
		t.Errorf("isRestartErr(%v) = true, want false", wrap(syscall.EACCES))
	}
}
