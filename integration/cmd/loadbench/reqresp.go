package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"sync"
	"time"
)

// The request/response load: connections held open, each in a closed loop
// writing a small request and reading its answer, as the clients of Redis
// or of a database do. Clients, proxy and backends share the machine's
// cores, so the clients do as little as they can: one goroutine per
// connection, Write then io.ReadFull into a buffer of its own, one clock
// reading per request, the latency appended to a slice made before the
// window; no allocation per request.

// rrRatePerSec sizes each connection's latency slice before the window:
// room for this many requests per second over all connections, more than
// loopback gives here, so that growing a slice in the window is rare.
const rrRatePerSec = 60000

// errEchoMismatch is an answer that is not the request echoed.
var errEchoMismatch = errors.New("echo mismatch")

// reqresp opens conc connections to addr and, on each, exchanges one
// request before the window starts; then every connection repeats, for
// window: write payloadSize bytes, read the payloadSize bytes echoed. It
// returns the answers received within the window per second, the
// percentiles of request-to-answer latency, the errors (failed dials and
// exchanges), and the CPU time of process pid (the proxy; 0 for none)
// per request over the exchanges, connection setup left out. Every
// connection is closed with a reset at the end.
func (r *runner) reqresp(ctx context.Context, addr string, pid, conc int, window time.Duration) Sample {
	payload := bytes.Repeat([]byte("0123456789abcdef"), payloadSize/16)
	room := max(256, int(window.Seconds()*rrRatePerSec/float64(conc)))
	clients := make([]*rrClient, conc)
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	var deadline time.Time // set before start is closed
	for i := range clients {
		c := &rrClient{buf: make([]byte, payloadSize), lat: make([]time.Duration, 0, room)}
		clients[i] = c
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ok := c.open(ctx, addr, payload)
			ready.Done()
			<-start
			if ok {
				c.loop(deadline, payload)
			}
		}()
	}
	ready.Wait()
	// on cancellation, end every exchange at once
	stop := context.AfterFunc(ctx, func() {
		for _, c := range clients {
			if c.conn != nil {
				_ = c.conn.SetDeadline(time.Now())
			}
		}
	})
	cpu0 := procCPU(pid)
	deadline = time.Now().Add(window)
	close(start)
	done.Wait()
	cpu := procCPU(pid) - cpu0
	stop()
	for _, c := range clients {
		if c.conn != nil {
			closeReset(c.conn)
		}
	}
	return rrSample(clients, window, cpu)
}

// rrClient is one connection of the request/response load and what it
// measured.
type rrClient struct {
	conn net.Conn
	buf  []byte
	lat  []time.Duration // of the answers received within the window
	errs int64           // failed dial or exchanges
	done int64           // answers received, also after the window
}

// open dials addr and exchanges one request (not counted), so that the
// proxy has its backend connection before the window; it returns whether
// the connection is ready, and counts an error if not.
func (c *rrClient) open(ctx context.Context, addr string, payload []byte) bool {
	d := net.Dialer{Timeout: opTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		c.errs++
		return false
	}
	_ = conn.SetDeadline(time.Now().Add(opTimeout))
	_, err = conn.Write(payload)
	if err == nil {
		_, err = io.ReadFull(conn, c.buf)
	}
	if err == nil && !bytes.Equal(c.buf, payload) {
		err = errEchoMismatch
	}
	if err != nil {
		closeReset(conn)
		c.errs++
		return false
	}
	c.conn = conn
	return true
}

// loop exchanges requests until one is answered at or after deadline (or
// one fails), each bounded by tailGrace after deadline. An exchange starts
// when the one before it ended.
func (c *rrClient) loop(deadline time.Time, payload []byte) {
	_ = c.conn.SetDeadline(deadline.Add(tailGrace))
	t0 := time.Now()
	for {
		_, err := c.conn.Write(payload)
		if err == nil {
			_, err = io.ReadFull(c.conn, c.buf)
		}
		t1 := time.Now()
		if err == nil && !bytes.Equal(c.buf, payload) {
			err = errEchoMismatch
		}
		if err != nil {
			if t1.Before(deadline) {
				c.errs++
			}
			return
		}
		c.done++
		if !t1.Before(deadline) {
			return
		}
		c.lat = append(c.lat, t1.Sub(t0))
		t0 = t1
	}
}

// rrSample sums the clients' answers and errors, takes the latency
// percentiles over all of them, and divides the proxy's CPU time cpu by
// the answers.
func rrSample(clients []*rrClient, window, cpu time.Duration) Sample {
	var s Sample
	n := 0
	for _, c := range clients {
		n += len(c.lat)
	}
	all := make([]time.Duration, 0, n)
	var answered int64
	for _, c := range clients {
		all = append(all, c.lat...)
		s.ReqErrors += c.errs
		answered += c.done
	}
	s.ReqPerSec = float64(len(all)) / window.Seconds()
	slices.Sort(all)
	s.ReqP50, s.ReqP99 = percentile(all, 0.50), percentile(all, 0.99)
	if answered > 0 {
		s.CPUPerReq = cpu / time.Duration(answered)
	}
	return s
}
