package integration

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// TestNoLeak runs many connections of every kind through one Caddy
// (echoed, half-closed, aborted by the client, reset by the backend,
// silently reset, failed dials, TLS and unix backends), then checks that
// every live count is 0 and that the Caddy's goroutines and open file
// descriptors are back to their figures from before the load.
func TestNoLeak(t *testing.T) {
	onDataPaths(t, func(t *testing.T, route routeFunc) {
		ca := newTestCA(t)
		echo := harness.StartBackend(t, "echo")
		resetting := harness.StartBackend(t, "resetter", harness.WithResetAfter(64<<10))
		dead := harness.StartBackend(t, "dead")
		dead.Stop()
		silent, _ := silentReset(t, 0)
		tlsb := startInfoBackend(t, "tlsb", tls.NewListener(listenTCP(t, "127.0.0.1:0"), ca.serverConfig()), false)
		unixb := startInfoBackend(t, "unixb", listenUnix(t), false)
		ls := make([]string, 6)
		for i := range ls {
			ls[i] = harness.FreeAddr(t)
		}
		c := harness.StartCaddy(t, costlbCaddyfile("site east",
			route(ls[0], `backend east %s`, echo.Addr()),
			route(ls[1], `backend east %s`, resetting.Addr()),
			route(ls[2], `
				backend east %s
				lb_try_duration 100ms
				lb_try_interval 20ms`, dead.Addr()),
			route(ls[3], `backend east %s`, silent),
			route(ls[4], `
				backend east %s {
					tls
					tls_server_name backend.test
					tls_trust_pool file %s
				}`, tlsb.Addr(), ca.caFile),
			route(ls[5], `backend east %s`, unixb.Addr()),
		), "caddyfile")

		baseG, baseFD := waitSettled(t, c) // the start's goroutines come and go

		kinds := leakKinds(ls)
		const perKind = 150
		churn(t, perKind*len(kinds), 12, func(i int) error { return kinds[i%len(kinds)](i) })

		waitAllLiveZero(t, c, relTimeout)
		var g, fds int
		harness.WaitFor(t, 20*time.Second, func() bool { // pooled pipes close after 5 s idle
			_, g = pollerGoroutines(t, c)
			fds = procFDs(t, c)
			return g <= baseG && fds <= baseFD
		}, fmt.Sprintf("goroutines and open fds back to their figures from before %d connections (%d and %d)", perKind*len(kinds), baseG, baseFD))
		t.Logf("after %d connections: %d goroutines (%d before), %d open fds (%d before)", perKind*len(kinds), g, baseG, fds, baseFD)
	})
}

// leakKinds returns one client per kind of connection TestNoLeak makes,
// through the listeners ls of its Caddy (in its order of routes).
func leakKinds(ls []string) []func(i int) error {
	payload := []byte(strings.Repeat("x", 64<<10))
	return []func(i int) error{
		func(int) error { // echoed, then closed
			_, conn, err := harness.Hold(ls[0], relTimeout)
			if err != nil {
				return err
			}
			defer conn.Close()
			return harness.EchoCheck(conn, payload)
		},
		func(int) error { // half-closed by the client
			return sendHalfClosed(ls[5], payload, "half-close via unix backend")
		},
		func(int) error { // aborted by the client mid-transfer
			_, conn, err := harness.Hold(ls[0], relTimeout)
			if err != nil {
				return err
			}
			_, _ = conn.Write(payload)
			_ = conn.(*net.TCPConn).SetLinger(0)
			return conn.Close()
		},
		func(int) error { // reset by the backend mid-transfer
			_, conn, err := harness.Hold(ls[1], relTimeout)
			if err != nil {
				return err
			}
			defer conn.Close()
			if errs := streamUntilEnd(conn, time.Now().Add(relTimeout)); !wasReset(errs) {
				return fmt.Errorf("the backend's reset did not reach the client: %v", errs)
			}
			return nil
		},
		func(int) error { // failed dials
			_, err := harness.Once(ls[2], relTimeout)
			if err == nil {
				return fmt.Errorf("a connection to a dead backend succeeded")
			}
			return nil
		},
		func(int) error { // silently reset
			conn, err := net.DialTimeout("tcp", ls[3], relTimeout)
			if errors.Is(err, syscall.ECONNRESET) {
				return nil // the backend's reset, passed on, came before connect returned
			}
			if err != nil {
				return err
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(relTimeout))
			_, _ = io.Copy(io.Discard, conn)
			return nil
		},
		func(int) error { // upstream TLS
			return sendHalfClosed(ls[4], payload, "TLS backend")
		},
	}
}

// sendHalfClosed sends payload through addr, half-closes, and expects at
// least payload's length back before the end; what names the path in the
// error.
func sendHalfClosed(addr string, payload []byte, what string) error {
	conn, err := net.DialTimeout("tcp", addr, relTimeout)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(relTimeout))
	_, _ = conn.Write(payload)
	closeWrite(conn)
	n, err := io.Copy(io.Discard, conn)
	if err != nil || n < int64(len(payload)) {
		return fmt.Errorf("%s: %d bytes back, %v", what, n, err)
	}
	return nil
}
