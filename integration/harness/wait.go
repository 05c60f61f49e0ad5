package harness

import (
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// pollInterval is how often WaitFor checks its condition.
const pollInterval = 20 * time.Millisecond

// WaitFor calls cond every 20 ms until it returns true, and fails the test
// with msg if it has not within timeout. cond is called from the calling
// goroutine.
func WaitFor(tb testing.TB, timeout time.Duration, cond func() bool, msg string) {
	tb.Helper()
	if !WaitUntil(timeout, cond) {
		tb.Fatalf("WaitFor: after %v: %s", timeout, msg)
	}
}

// WaitUntil calls cond every 20 ms until it returns true, for at most
// timeout, and reports whether it did: for a caller whose failure message
// needs what cond saw last.
func WaitUntil(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(pollInterval)
	}
	return true
}

// handedOut holds every port FreePort returned in this process: two
// listeners on one port (Caddy sets SO_REUSEPORT) would share its
// connections, as an admin endpoint and a proxy listener once did.
var handedOut sync.Map

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago (a
// listener bound it and closed it again before returning) and that no
// earlier call in this process returned.
//
// The port comes from below the kernel's ephemeral range
// (net.ipv4.ip_local_port_range), never from it: a port the kernel picked
// for a listener may next be picked as the local port of some outgoing
// connection, and a Caddy started on it then fails with "address already
// in use", as CI once saw. The start is random so that test binaries
// running side by side rarely try the same ports.
func FreePort(tb testing.TB) int {
	tb.Helper()
	lo, hi := portPool()
	span := hi - lo
	start := rand.IntN(span)
	for i := 0; i < span; i++ {
		port := lo + (start+i)%span
		if _, taken := handedOut.LoadOrStore(port, true); taken {
			continue
		}
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err != nil {
			continue // someone else holds it; it stays marked so no one here tries it again
		}
		if err := ln.Close(); err != nil {
			tb.Fatalf("FreePort: %v", err)
		}
		return port
	}
	tb.Fatalf("FreePort: no free port in %d-%d", lo, hi-1)
	return 0
}

// portPool is the range FreePort draws from, [lo, hi): the ports from
// 10000 up to the start of the ephemeral range (32768 by default), or
// 10000-19999 when that range starts lower than 20000.
func portPool() (lo, hi int) {
	lo, hi = 10000, 32768
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return lo, hi
	}
	f := strings.Fields(string(b))
	if len(f) == 2 {
		if first, err := strconv.Atoi(f[0]); err == nil {
			hi = first
		}
	}
	if hi < 20000 {
		hi = 20000
	}
	return lo, hi
}

// FreeAddr returns "127.0.0.1:<port>" for a port from FreePort.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(tb)))
}
