package main

import (
	"net"

	"github.com/costlb/costlb/module/evloop"
)

// The event-loop spike: two child targets that proxy as go-proxy does
// (Go's accept, a net.Dialer dial, in a goroutine per accepted
// connection, as caddy-l4 and costlb's handler do it) but then move the
// connection's bytes in an epoll loop per CPU instead of a goroutine per
// direction:
//
//   - loop-proxy: costlb's own loop (module/evloop, on golang.org/x/sys/unix):
//     edge-triggered, reads into the loop's buffer written straight to the
//     peer, a pooled buffer only while a peer is slower than its source
//     (which is not read meanwhile), half-closes and resets passed on.
//   - nbio-proxy: github.com/lesismal/nbio v1.6.8's engine, which adopts an
//     existing net.Conn (duplicating its fd too): each OnData is written to
//     the peer with nbio's Conn.Write (nbioproxy.go).
//
// Once the connection is in the loop, the goroutine that dialed ends: a
// held connection keeps no goroutine and no stack.

// serveLoopProxyChild serves loop-proxy: a pool of one loop per CPU.
func serveLoopProxyChild(backend string) (string, error) {
	pool, err := evloop.NewPool(0)
	if err != nil {
		return "", err
	}
	return serveAccepting(func(c *net.TCPConn) { loopProxy(pool, c, backend) })
}

// loopProxy dials backend and hands both connections to the pool.
func loopProxy(pool *evloop.Pool, client *net.TCPConn, backend string) {
	c, err := proxyDialer.Dial("tcp", backend)
	if err != nil {
		_ = client.Close()
		return
	}
	if err := pool.Add(evloop.NewConn(nil), client, c.(*net.TCPConn), nil); err != nil {
		_ = client.Close()
		_ = c.Close()
	}
}
