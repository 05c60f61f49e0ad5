// Package streamcopy is the goroutine engine of costlb's data path: it
// copies a proxied stream connection both ways in two goroutines, for
// every connection the event loop does not take (TLS legs, wrappers, unix
// sockets, other systems). What it passes on at the ends, and when it
// splices: docs/data-path.md. It needs no Caddy.
package streamcopy

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/costlb/costlb/module/internal/proxied"
)

// Leg is one side of a proxied connection.
type Leg struct {
	// conn is read from and written to.
	conn net.Conn
	// base is what conn wraps, if conn is a wrapper that cannot half-close
	// (the layer4 connection); it is half-closed, reset and closed.
	base net.Conn
	// raw is the socket of a plain TCP or unix stream connection, nil for
	// anything else (TLS, a wrapper of another handler): raw legs are read
	// on readiness, and spliced when both legs are raw.
	raw syscall.RawConn
	// count, if set (Counting), takes the bytes written to the leg as
	// they go
	count *atomic.Uint64
}

// Counting returns the leg adding the bytes written to it to c as they
// are written (a write or a splice at a time), so that a long
// connection's bytes show while it lasts.
func (l Leg) Counting(c *atomic.Uint64) Leg {
	l.count = c
	return l
}

// wrote adds n bytes written to the leg to its count, if it has one.
func (l *Leg) wrote(n int) {
	if l.count != nil && n > 0 {
		l.count.Add(uint64(n))
	}
}

// NewLeg returns the leg of conn, with its socket if it is a plain one.
func NewLeg(conn net.Conn) Leg {
	l := Leg{conn: conn, base: conn}
	switch c := conn.(type) {
	case *net.TCPConn:
		l.raw, _ = c.SyscallConn()
	case *net.UnixConn:
		l.raw, _ = c.SyscallConn()
	}
	return l
}

// WrapperLeg returns the leg read and written through conn, a wrapper of
// base that cannot half-close (such as a layer4 connection that hands out
// bytes its matchers read); base is half-closed, reset and closed.
func WrapperLeg(conn, base net.Conn) Leg {
	return Leg{conn: conn, base: base}
}

// Plain reports whether the leg is a plain TCP or unix socket, read on
// readiness.
func (l Leg) Plain() bool { return l.raw != nil }

// Session is one proxied connection while it runs.
type Session struct {
	client, backend Leg
	shut            [3]atomic.Bool // by side: its peer was sent our FIN
	done            sync.WaitGroup
	// mu orders the ends: once aborted, no FIN is sent (a FIN before the
	// reset would tell the peer the stream ended well)
	mu      sync.Mutex
	aborted bool
	res     proxied.Result // First, EndedAt, Reset, Err: under mu
	// toBackend is the client's direction's count, read after it ended
	toBackend int64
}

// Result tells how a proxied connection ended.
type Result = proxied.Result

// NewSession returns the session of a proxied connection between client
// and backend.
func NewSession(client, backend Leg) *Session {
	return &Session{client: client, backend: backend}
}

// Run copies between client and backend until both directions have
// ended. prefix, the client's bytes already read by layer4 matchers, goes
// to the backend first. A side's FIN is passed on as a half-close; a
// reset, or a write that fails, ends both directions and resets the other
// peer.
func (s *Session) Run(prefix []byte) Result {
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		s.toBackend = s.pump(&s.backend, &s.client, proxied.SideClient, prefix)
	}()
	toClient := s.pump(&s.client, &s.backend, proxied.SideBackend, nil)
	s.done.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.res
	r.ToBackend, r.ToClient = s.toBackend, toClient
	return r
}

// noteEnd records that side ended the connection, unless a side (or an
// abort) did first, and err, the first error seen.
func (s *Session) noteEnd(side proxied.Side, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.res.EndedAt.IsZero() {
		s.res.First, s.res.EndedAt = side, time.Now()
	}
	if err != nil && s.res.Err == nil {
		s.res.Reset, s.res.Err = true, err
	}
}

// Abort ends both directions, from outside the copy loop: it closes both
// legs, the peers learn of it as of a closed connection.
func (s *Session) Abort() {
	s.noteEnd(proxied.SideNone, proxied.ErrAborted)
	s.abort(nil, nil)
}

// abort ends both directions: it closes both legs, resetting (RST) the
// peer of rst if rst is not nil. first is the source of the direction
// that calls it, nil when another goroutine calls it.
//
// Closing a socket waits for the calls using it to return, and the other
// direction may be waiting to write to one socket inside a read call on
// the other: first, which the other direction writes to, is closed
// first, which wakes that write. Any other caller first wakes every call
// on both sockets with a past deadline.
func (s *Session) abort(rst, first *Leg) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.aborted {
		return
	}
	s.aborted = true
	if rst != nil {
		c := rst.base
		if tc, ok := c.(*tls.Conn); ok {
			c = tc.NetConn()
		}
		if lc, ok := c.(interface{ SetLinger(int) error }); ok {
			_ = lc.SetLinger(0) // close with a RST
		}
	}
	if first == nil {
		_ = s.client.base.SetDeadline(wakeNow)
		_ = s.backend.base.SetDeadline(wakeNow)
		first = &s.client
	}
	second := &s.backend
	if first == second {
		second = &s.client
	}
	_ = first.base.Close()
	_ = second.base.Close()
}

// wakeNow is a deadline long past.
var wakeNow = time.Unix(1, 0)

// isAborted reports whether the session was aborted.
func (s *Session) isAborted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.aborted
}

// pump copies src to dst (prefix first) until src ends or the session is
// aborted, and returns the bytes written to dst. srcSide names src's peer.
func (s *Session) pump(dst, src *Leg, srcSide proxied.Side, prefix []byte) int64 {
	var n int64
	if len(prefix) > 0 {
		m, err := dst.conn.Write(prefix)
		n += int64(m)
		dst.wrote(m)
		if err != nil {
			s.failed(srcSide.Other(), src, src, err)
			return n
		}
	}
	m, end, err := copyStream(dst, src)
	n += m
	if end == endEOF && src.raw != nil && !s.shut[srcSide].Load() && resetAtEOF(src.raw) {
		end, err = endRead, syscall.ECONNRESET
	}
	switch end {
	case endEOF:
		s.noteEnd(srcSide, nil)
		s.halfClose(dst, srcSide.Other())
	case endRead:
		s.failed(srcSide, dst, src, err)
	case endWrite:
		s.failed(srcSide.Other(), src, src, err)
	}
	return n
}

// failed ends the session after an error on side's socket, seen by the
// direction reading src: err is the error, peer the Leg whose peer learns
// of it by a reset. An error after the session was aborted, or on a
// socket closed here, is no side's doing and resets nobody.
func (s *Session) failed(side proxied.Side, peer, src *Leg, err error) {
	if s.isAborted() {
		return
	}
	if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) {
		s.abort(nil, src)
		return
	}
	s.noteEnd(side, err)
	s.abort(peer, src)
}

// halfClose passes a FIN on to the peer of dst (side), unless the session
// is aborted.
func (s *Session) halfClose(dst *Leg, side proxied.Side) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.aborted {
		s.shut[side].Store(true)
		closeWrite(dst.base)
	}
}

// closeWrite passes a half-close on: it shuts down the writing side of c,
// or closes c if it cannot (as caddy-l4 does).
func closeWrite(c net.Conn) {
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
		return
	}
	_ = c.Close()
}

// endKind tells why a copy stopped.
type endKind int

const (
	endEOF   endKind = iota // src reached EOF
	endRead                 // reading src failed
	endWrite                // writing dst failed
)
