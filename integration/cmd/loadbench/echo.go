package main

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// echoChildEnv, set to "1", makes the loadbench binary (or its test binary)
// run as the echo backend child process instead of the benchmark.
const echoChildEnv = "LOADBENCH_ECHO_CHILD"

// echoBufPool holds the per-connection copy buffers of the echo servers.
var echoBufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// serveEcho accepts connections on ln until it is closed and echoes every
// byte each one sends. When the client closes (or resets) the connection, the
// backend closes its side with SO_LINGER 0, i.e. with a RST, so no socket of
// the benchmark ever sits in TIME_WAIT on the proxy-to-backend leg.
func serveEcho(ln net.Listener) {
	for {
		c, err := ln.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and the like: back off instead of spinning
			time.Sleep(10 * time.Millisecond)
			continue
		}
		go handleEcho(c)
	}
}

func handleEcho(c net.Conn) {
	bp := echoBufPool.Get().(*[]byte)
	buf := *bp
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	echoBufPool.Put(bp)
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// echoPair is the two echo backends ("east" and "west").
type echoPair struct {
	addrs [2]string
	stop  func()
}

// startEchoInProcess runs both echo backends in this process.
func startEchoInProcess() (*echoPair, error) {
	var lns []net.Listener
	closeAll := func() {
		for _, ln := range lns {
			_ = ln.Close()
		}
	}
	p := &echoPair{stop: closeAll}
	for i := range p.addrs {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			closeAll()
			return nil, fmt.Errorf("echo backend: %w", err)
		}
		lns = append(lns, ln)
		p.addrs[i] = ln.Addr().String()
		go serveEcho(ln)
	}
	return p, nil
}

// maybeRunEchoChild runs the echo backend child and returns true when this
// process was started as one (echoChildEnv=1); main and TestMain call it
// first. The child listens on two 127.0.0.1 ports, prints
// "ECHO <addr1> <addr2>" on stdout and serves until its stdin closes, which
// happens when the parent stops it or dies.
func maybeRunEchoChild() bool {
	if os.Getenv(echoChildEnv) != "1" {
		return false
	}
	p, err := startEchoInProcess()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("ECHO %s %s\n", p.addrs[0], p.addrs[1])
	_, _ = io.Copy(io.Discard, os.Stdin)
	p.stop()
	os.Exit(0)
	return true
}

// startEchoChild starts this binary again as the echo backend child, so the
// backends do not share the Go scheduler (and GC) with the load-generating
// clients.
func startEchoChild(r *runner) (*echoPair, error) {
	p, f, err := r.startSelfChild("echo backends", []string{echoChildEnv + "=1"}, "echo.log", "ECHO", 2)
	if err != nil {
		return nil, err
	}
	return &echoPair{addrs: [2]string{f[0], f[1]}, stop: p.stop}, nil
}
