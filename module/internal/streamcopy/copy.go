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

	"github.com/mholt/caddy-l4/layer4"
)

// The copy loop of a proxied connection. It runs in two goroutines: the
// one that handles the connection copies backend to client, a second one
// client to backend. Between two plain TCP (or unix) sockets it moves the
// bytes with splice(2) through a pipe taken from a small pool only while
// data moves (splice_linux.go); otherwise through buffers from a pool,
// borrowed when the source socket is readable. An idle connection holds
// no pipe and, on plain sockets, no buffer.

// leg is one side of a proxied connection.
type leg struct {
	// conn is read from and written to.
	conn net.Conn
	// base is what conn wraps, if conn is a wrapper that cannot half-close
	// (the layer4 connection); it is half-closed, reset and closed.
	base net.Conn
	// raw is the socket of a plain TCP or unix stream connection, nil for
	// anything else (TLS, a wrapper of another handler): raw legs are read
	// on readiness, and spliced when both legs are raw.
	raw syscall.RawConn
}

// newLeg returns the leg of conn, with its socket if it is a plain one.
func newLeg(conn net.Conn) leg {
	l := leg{conn: conn, base: conn}
	switch c := conn.(type) {
	case *net.TCPConn:
		l.raw, _ = c.SyscallConn()
	case *net.UnixConn:
		l.raw, _ = c.SyscallConn()
	}
	return l
}

// clientLeg returns the leg of the client connection and the bytes layer4
// matchers already read from it, which go to the backend first. A plain
// socket is read directly after them; anything else is read through the
// layer4 connection, which hands out those bytes itself.
func clientLeg(down *layer4.Connection) (leg, []byte) {
	l := newLeg(down.Conn)
	if l.raw != nil {
		return l, down.MatchingBytes()
	}
	return leg{conn: down, base: down.Conn}, nil
}

// side names who ended a connection first.
const (
	sideNone int32 = iota
	sideClient
	sideBackend
)

// session is one proxied connection while it runs.
type session struct {
	client, backend leg
	first           atomic.Int32 // side that ended the connection first
	endedAt         atomic.Int64 // when it did, Unix ns (only with timeEnds)
	timeEnds        bool
	shut            [3]atomic.Bool // by side: its peer was sent our FIN
	done            sync.WaitGroup
	// mu orders the ends: once aborted, no FIN is sent (a FIN before the
	// reset would tell the peer the stream ended well)
	mu      sync.Mutex
	aborted bool
}

// copyResult tells how a proxied connection ended.
type copyResult struct {
	fromBackend int64     // bytes the backend sent to the client
	toBackend   int64     // bytes sent to the backend (the client's prefix included)
	first       int32     // sideClient or sideBackend: who ended it first; sideNone if neither (closed locally)
	endedAt     time.Time // when the first side ended; set only if timeEnds was asked
}

// newSession returns the session of a proxied connection between client
// and backend; timeEnds asks for copyResult.endedAt.
func newSession(client, backend leg, timeEnds bool) *session {
	return &session{client: client, backend: backend, timeEnds: timeEnds}
}

// run copies between client and backend until both directions have
// ended. prefix, the client's bytes already read by layer4 matchers, goes
// to the backend first. A side's FIN is passed on as a half-close; a
// reset, or a write that fails, ends both directions and resets the other
// peer.
func (s *session) run(prefix []byte) copyResult {
	var toBackend int64
	s.done.Add(1)
	go func() {
		defer s.done.Done()
		toBackend = s.pump(&s.backend, &s.client, sideClient, prefix)
	}()
	fromBackend := s.pump(&s.client, &s.backend, sideBackend, nil)
	s.done.Wait()
	r := copyResult{fromBackend: fromBackend, toBackend: toBackend, first: s.first.Load()}
	if ns := s.endedAt.Load(); ns != 0 {
		r.endedAt = time.Unix(0, ns)
	}
	return r
}

// noteEnd records that side ended the connection, unless a side did first.
func (s *session) noteEnd(side int32) {
	if s.first.CompareAndSwap(sideNone, side) && s.timeEnds {
		s.endedAt.Store(time.Now().UnixNano())
	}
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
func (s *session) abort(rst, first *leg) {
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
func (s *session) isAborted() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.aborted
}

// other returns the side that is not side.
func other(side int32) int32 {
	if side == sideClient {
		return sideBackend
	}
	return sideClient
}

// pump copies src to dst (prefix first) until src ends or the session is
// aborted, and returns the bytes written to dst. srcSide names src's peer.
func (s *session) pump(dst, src *leg, srcSide int32, prefix []byte) int64 {
	var n int64
	if len(prefix) > 0 {
		m, err := dst.conn.Write(prefix)
		n += int64(m)
		if err != nil {
			s.failed(other(srcSide), src, src, err)
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
		s.noteEnd(srcSide)
		s.halfClose(dst, other(srcSide))
	case endRead:
		s.failed(srcSide, dst, src, err)
	case endWrite:
		s.failed(other(srcSide), src, src, err)
	}
	return n
}

// failed ends the session after an error on side's socket, seen by the
// direction reading src: err is the error, peer the leg whose peer learns
// of it by a reset. An error after the session was aborted, or on a
// socket closed here, is no side's doing and resets nobody.
func (s *session) failed(side int32, peer, src *leg, err error) {
	if s.isAborted() {
		return
	}
	if errors.Is(err, net.ErrClosed) || errors.Is(err, os.ErrClosed) {
		s.abort(nil, src)
		return
	}
	s.noteEnd(side)
	s.abort(peer, src)
}

// halfClose passes a FIN on to the peer of dst (side), unless the session
// is aborted.
func (s *session) halfClose(dst *leg, side int32) {
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
