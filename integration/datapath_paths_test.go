package integration

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// The two data paths: data_path auto, the default, moves a connection
// whose legs are both plain TCP to the event loop on Linux; goroutines
// copies every connection in goroutines. The data path tests run on both.
var dataPaths = []string{"auto", "goroutines"}

// routeFunc makes a costlb route as costlbRoute does, on one data path.
type routeFunc func(listen, format string, args ...any) l4Route

// onDataPaths runs test once per data path, as a subtest named for it;
// route makes the test's costlb routes with that data_path.
func onDataPaths(t *testing.T, test func(t *testing.T, route routeFunc)) {
	for _, dp := range dataPaths {
		t.Run(dp, func(t *testing.T) {
			test(t, func(listen, format string, args ...any) l4Route {
				return costlbRoute(listen, "data_path "+dp+"\n"+format, args...)
			})
		})
	}
}

// TestEventLoopHoldsNoGoroutine: connections with plain TCP legs, held
// open, cost the Caddy no goroutine on the default data path and two each
// with data_path goroutines; a TLS backend's connections take the
// goroutine path either way. caddy-l4's proxy metrics count both paths'
// connections alike, and the live counts and metrics go back to 0.
func TestEventLoopHoldsNoGoroutine(t *testing.T) {
	ca := newTestCA(t)
	echo := harness.StartBackend(t, "echo")
	tlsb := startInfoBackend(t, "tlsb", tls.NewListener(listenTCP(t, "127.0.0.1:0"), ca.serverConfig()), false)
	lAuto, lGo, lTLS := harness.FreeAddr(t), harness.FreeAddr(t), harness.FreeAddr(t)
	c := harness.StartCaddy(t, costlbCaddyfile("site east",
		costlbRoute(lAuto, `backend east %s`, echo.Addr()),
		costlbRoute(lGo, `
			data_path goroutines
			backend east %s`, echo.Addr()),
		costlbRoute(lTLS, `
			backend east %s {
				tls
				tls_server_name backend.test
				tls_trust_pool file %s
			}`, tlsb.Addr(), ca.caFile),
	), "caddyfile")
	baseG, _ := waitSettled(t, c)

	const n = 100
	cases := []struct {
		listen   string
		minPer   float64 // goroutines per held connection, at least
		maxPer   float64 // and at most
		upstream string
		hold     func(addr string) (net.Conn, error)
	}{
		{lAuto, 0, 0.1, echo.Addr(), holdEcho},
		{lGo, 1.9, 3, echo.Addr(), holdEcho},
		{lTLS, 1.9, 3, tlsb.Addr(), holdInfo},
	}
	opened0 := proxyMetric(t, c, "caddy_layer4_proxy_connections_total", echo.Addr())
	for _, tc := range cases {
		conns := make([]net.Conn, 0, n)
		for range n {
			conn, err := tc.hold(tc.listen)
			if err != nil {
				t.Fatalf("through %s: %v", tc.listen, err)
			}
			conns = append(conns, conn)
		}
		var g int
		harness.WaitFor(t, relTimeout, func() bool {
			_, g = pollerGoroutines(t, c)
			per := float64(g-baseG) / n
			return per >= tc.minPer && per <= tc.maxPer
		}, fmt.Sprintf("goroutines per held connection through %s between %.1f and %.1f", tc.listen, tc.minPer, tc.maxPer))
		if a := proxyMetric(t, c, "caddy_layer4_proxy_active_connections", tc.upstream); a != n {
			t.Fatalf("caddy_layer4_proxy_active_connections{upstream=%q} = %v with %d held, want %d", tc.upstream, a, n, n)
		}
		t.Logf("%d connections held through %s: %d goroutines (%d before), %.2f each", n, tc.listen, g, baseG, float64(g-baseG)/n)
		// still moving bytes after being held
		for _, conn := range conns[:5] {
			if err := harness.EchoCheck(conn, []byte("still there")); err != nil {
				t.Fatalf("a held connection through %s: %v", tc.listen, err)
			}
		}
		for _, conn := range conns {
			_ = conn.Close()
		}
		waitAllLiveZero(t, c, relTimeout)
		harness.WaitFor(t, relTimeout, func() bool {
			return proxyMetric(t, c, "caddy_layer4_proxy_active_connections", tc.upstream) == 0
		}, "caddy_layer4_proxy_active_connections back to 0")
	}
	if opened := proxyMetric(t, c, "caddy_layer4_proxy_connections_total", echo.Addr()) - opened0; opened != 2*n {
		t.Fatalf("caddy_layer4_proxy_connections_total{upstream=%q} went up by %v, want %d", echo.Addr(), opened, 2*n)
	}
}

// holdEcho opens a connection through addr to a harness backend and
// reads its greeting.
func holdEcho(addr string) (net.Conn, error) {
	_, conn, err := harness.Hold(addr, relTimeout)
	return conn, err
}

// holdInfo opens a connection through addr to an infoBackend and reads
// its greeting line.
func holdInfo(addr string) (net.Conn, error) {
	conn, err := net.DialTimeout("tcp", addr, relTimeout)
	if err != nil {
		return nil, err
	}
	_ = conn.SetReadDeadline(time.Now().Add(relTimeout))
	b := make([]byte, 1)
	for b[0] != '\n' {
		if _, err := conn.Read(b); err != nil {
			conn.Close()
			return nil, err
		}
	}
	_ = conn.SetReadDeadline(time.Time{})
	return conn, nil
}

// proxyMetric returns the value of caddy-l4's proxy metric name for
// upstream, from the Caddy's /metrics (0 if it has no such sample yet).
func proxyMetric(t *testing.T, c *harness.Caddy, name, upstream string) float64 {
	t.Helper()
	status, body, err := c.Get("/metrics")
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET /metrics: %d %v", status, err)
	}
	prefix := fmt.Sprintf("%s{upstream=%q} ", name, upstream)
	sc := bufio.NewScanner(strings.NewReader(string(body)))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s%s: %v", prefix, v, err)
			}
			return f
		}
	}
	return 0
}

// TestCloseIfUnhealthy: with close_if_unhealthy, the open connections to
// a backend end when the active health checks mark it down, on both data
// paths, and its live count goes back to 0; another service's stay open.
func TestCloseIfUnhealthy(t *testing.T) {
	onDataPaths(t, func(t *testing.T, route routeFunc) {
		sick := harness.StartBackend(t, "sick")
		well := harness.StartBackend(t, "well")
		// the checks dial ports of their own: the test closes the sick
		// one while the backend itself still serves its connections
		probeSick, portSick := probePort(t)
		_, portWell := probePort(t)
		lSick, lWell := harness.FreeAddr(t), harness.FreeAddr(t)
		checks := `
			health_interval 100ms
			health_timeout 100ms
			health_port %s
			close_if_unhealthy`
		c := harness.StartCaddy(t, costlbCaddyfile("site east",
			route(lSick, "name sick\nbackend east %s"+checks, sick.Addr(), portSick),
			route(lWell, "name well\nbackend east %s"+checks, well.Addr(), portWell),
		), "caddyfile")
		hold := func(addr string) net.Conn {
			_, conn, err := harness.Hold(addr, relTimeout)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { conn.Close() })
			return conn
		}
		var held []net.Conn
		for range 5 {
			held = append(held, hold(lSick))
		}
		other := hold(lWell)
		if err := harness.EchoCheck(held[0], []byte("before")); err != nil {
			t.Fatal(err)
		}
		downAt := time.Now()
		probeSick.Close()
		for i, conn := range held {
			_ = conn.SetReadDeadline(time.Now().Add(relTimeout))
			n, err := conn.Read(make([]byte, 1))
			if n != 0 || !(errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET)) {
				t.Fatalf("held connection %d after its backend's checks failed: read %d, %v; want it closed (EOF or a reset)", i, n, err)
			}
		}
		t.Logf("5 connections closed %v after the checks' port closed", time.Since(downAt).Round(time.Millisecond))
		if err := harness.EchoCheck(other, []byte("after")); err != nil {
			t.Fatalf("a connection of the healthy service: %v", err)
		}
		other.Close()
		waitAllLiveZero(t, c, relTimeout)
	})
}

// probePort listens on a loopback port that accepts and closes, for
// active health checks, and returns it and its port.
func probePort(t *testing.T) (net.Listener, string) {
	ln := listenTCP(t, "127.0.0.1:0")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return ln, port
}

// TestNoLeakOverReloads: 100 reloads through the admin API while
// connections on the event loop are held open and new ones come and go
// with every config. The held connections still carry bytes after them,
// and once all are closed the Caddy's goroutines, open fds and live heap
// are back where they were: neither the loops nor the configs keep
// anything of the connections or of each other.
func TestNoLeakOverReloads(t *testing.T) {
	echo := harness.StartBackend(t, "echo")
	west := harness.StartBackend(t, "west")
	listen := harness.FreeAddr(t)
	config := func(gen int) string {
		return costlbCaddyfile(fmt.Sprintf(`
			site east
			link east west %d`, 10+gen%2),
			costlbRoute(listen, `
				backend east %s
				backend west %s`, echo.Addr(), west.Addr()))
	}
	c := harness.StartCaddy(t, config(0), "caddyfile")
	// a first connection of each kind, so that what the first ones start
	// (the loops, pools) is in the baseline
	if _, err := harness.Once(listen, relTimeout); err != nil {
		t.Fatal(err)
	}
	baseG, baseFD := waitSettled(t, c)
	baseHeap := liveHeap(t, c)

	var held []net.Conn
	for gen := 1; gen <= 100; gen++ {
		if status, body, err := c.Load([]byte(config(gen)), "text/caddyfile"); err != nil || status != http.StatusOK {
			t.Fatalf("reload %d: %d %v %s", gen, status, err, body)
		}
		for i := range 3 {
			_, conn, err := harness.Hold(listen, relTimeout)
			if err != nil {
				t.Fatalf("reload %d, connection %d: %v", gen, i, err)
			}
			if i == 0 && gen%10 == 0 {
				held = append(held, conn) // held across the next reloads
				continue
			}
			if err := harness.EchoCheck(conn, []byte("between reloads")); err != nil {
				t.Fatalf("reload %d: %v", gen, err)
			}
			conn.Close()
		}
	}
	for i, conn := range held {
		if err := harness.EchoCheck(conn, []byte("held across reloads")); err != nil {
			t.Fatalf("connection %d held from reload %d: %v", i, (i+1)*10, err)
		}
		conn.Close()
	}
	waitAllLiveZero(t, c, relTimeout)
	var g, fds int
	var heap int64
	harness.WaitFor(t, 20*time.Second, func() bool { // pooled pipes close after 5 s idle
		_, g = pollerGoroutines(t, c)
		fds, heap = procFDs(t, c), liveHeap(t, c)
		return g <= baseG && fds <= baseFD && heap <= baseHeap+heapSlack
	}, "goroutines, fds and live heap back to their figures from before 100 reloads")
	t.Logf("after 100 reloads and %d connections: %d goroutines (%d before), %d fds (%d before), live heap %d KiB (%d KiB before)",
		300, g, baseG, fds, baseFD, heap>>10, baseHeap>>10)
}

// heapSlack is how much more live heap than at the start
// TestNoLeakOverReloads allows after its reloads: Caddy keeps some state
// of its latest config that differs from the first one's, and the
// runtime's own structures grow a little. Measured: 220 KiB more after 100
// reloads, 104 KiB after 300, so nothing grows with the reloads; a leak
// of 10 KiB per reload fails it.
const heapSlack = 1 << 20

// liveHeap returns the Caddy's heap in use right after a garbage
// collection, from its admin API's heap profile.
func liveHeap(t *testing.T, c *harness.Caddy) int64 {
	t.Helper()
	status, body, err := c.Get("/debug/pprof/heap?gc=1&debug=1")
	if err != nil || status != http.StatusOK {
		t.Fatalf("GET /debug/pprof/heap: %d %v", status, err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, "# HeapAlloc = "); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
			if err != nil {
				t.Fatalf("heap profile: %q: %v", line, err)
			}
			return n
		}
	}
	t.Fatalf("heap profile without HeapAlloc: %.200s", body)
	return 0
}
