package main

import (
	"errors"
	"io"
	"net"
	"time"
)

// The go-proxy target is the least a Go program does to proxy a TCP
// connection: Go's own accept (with its default keepalive, as Caddy's
// layer4 listeners get it), a net.Dialer dial, a goroutine per direction
// copying with io.Copy (which splices between TCP sockets), half-closes
// passed on and a reset on an error. No Caddy, no caddy-l4, no balancing:
// its CPU per connection is the floor of Go's net stack and runtime for
// a proxied connection, the part of a Caddy target's cost that no layer4
// handler can cut.

// serveGoProxyChild is go-proxy's childServe: it listens on a 127.0.0.1
// port and proxies every connection accepted there to backend.
func serveGoProxyChild(backend string) (string, error) {
	return serveAccepting(func(c *net.TCPConn) { goProxy(c, backend) })
}

// proxyDialer dials the backend for every child proxy target.
var proxyDialer = net.Dialer{Timeout: 3 * time.Second, KeepAlive: -1}

// serveAccepting listens on a 127.0.0.1 port and serves every accepted
// connection in a goroutine of its own; it returns the address.
func serveAccepting(serve func(*net.TCPConn)) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				time.Sleep(10 * time.Millisecond)
				continue
			}
			go serve(c.(*net.TCPConn))
		}
	}()
	return ln.Addr().String(), nil
}

// goProxy copies between client and a new connection to backend until
// both directions end.
func goProxy(client *net.TCPConn, backend string) {
	defer client.Close()
	c, err := proxyDialer.Dial("tcp", backend)
	if err != nil {
		return
	}
	up := c.(*net.TCPConn)
	defer up.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		goProxyCopy(up, client)
	}()
	goProxyCopy(client, up)
	<-done
}

// goProxyCopy copies src to dst: at src's end it half-closes dst; after an
// error it resets dst and closes src.
func goProxyCopy(dst, src *net.TCPConn) {
	if _, err := io.Copy(dst, src); err != nil {
		_ = dst.SetLinger(0)
		_ = dst.Close()
		_ = src.Close()
		return
	}
	_ = dst.CloseWrite()
}
