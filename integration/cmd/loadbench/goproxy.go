package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

// goProxyChildEnv, set to a backend address, makes the loadbench binary (or
// its test binary) run as the go-proxy target instead of the benchmark.
const goProxyChildEnv = "LOADBENCH_GOPROXY_CHILD"

// The go-proxy target is the least a Go program does to proxy a TCP
// connection: Go's own accept (with its default keepalive, as Caddy's
// layer4 listeners get it), a net.Dialer dial, a goroutine per direction
// copying with io.Copy (which splices between TCP sockets), half-closes
// passed on and a reset on an error. No Caddy, no caddy-l4, no balancing:
// its CPU per connection is the floor of Go's net stack and runtime for
// a proxied connection, the part of a Caddy target's cost that no layer4
// handler can cut.

// maybeRunGoProxyChild runs the go-proxy child and returns true when this
// process was started as one; main and TestMain call it first. The child
// listens on a 127.0.0.1 port, prints "GOPROXY <addr>" on stdout and serves
// until its stdin closes.
func maybeRunGoProxyChild() bool {
	backend := os.Getenv(goProxyChildEnv)
	if backend == "" {
		return false
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("GOPROXY %s\n", ln.Addr())
	go serveGoProxy(ln, backend)
	_, _ = io.Copy(io.Discard, os.Stdin)
	_ = ln.Close()
	os.Exit(0)
	return true
}

// serveGoProxy proxies every connection accepted on ln to backend.
func serveGoProxy(ln net.Listener, backend string) {
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go goProxy(c.(*net.TCPConn), backend)
	}
}

// goProxy copies between client and a new connection to backend until
// both directions end.
func goProxy(client *net.TCPConn, backend string) {
	defer client.Close()
	c, err := (&net.Dialer{Timeout: 3 * time.Second, KeepAlive: -1}).Dial("tcp", backend)
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

// startGoProxyChild starts this binary again as the go-proxy target,
// proxying to backend, and returns it and its address.
func startGoProxyChild(r *runner, backend string) (*proc, string, error) {
	p, f, err := r.startSelfChild("go-proxy", goProxyChildEnv+"="+backend, "go-proxy.log", "GOPROXY", 1)
	if err != nil {
		return nil, "", err
	}
	return p, f[0], nil
}
