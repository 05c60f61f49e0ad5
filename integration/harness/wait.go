package harness

import (
	"net"
	"strconv"
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
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("WaitFor: after %v: %s", timeout, msg)
		}
		time.Sleep(pollInterval)
	}
}

// handedOut holds every port FreePort returned in this process: the kernel
// may give a just-closed port out again, and two listeners on one port
// (Caddy sets SO_REUSEPORT) would share its connections, as an admin
// endpoint and a proxy listener once did.
var handedOut sync.Map

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago (the
// kernel picked it for a listener that is closed again before returning)
// and that no earlier call in this process returned.
func FreePort(tb testing.TB) int {
	tb.Helper()
	for try := 0; try < 100; try++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("FreePort: %v", err)
		}
		port := ln.Addr().(*net.TCPAddr).Port
		if err := ln.Close(); err != nil {
			tb.Fatalf("FreePort: %v", err)
		}
		if _, taken := handedOut.LoadOrStore(port, true); !taken {
			return port
		}
	}
	tb.Fatalf("FreePort: the kernel offered only ports handed out before")
	return 0
}

// FreeAddr returns "127.0.0.1:<port>" for a port from FreePort.
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(FreePort(tb)))
}
