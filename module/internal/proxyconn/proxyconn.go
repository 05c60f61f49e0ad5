// Package proxyconn owns a proxied connection from the dial to its end:
// it dials the backend (Dialer), chooses the data-path engine, runs it,
// and at the end, once and whichever engine ran, reports the result
// (silent-close detection), stops close_if_unhealthy's tracking, lowers
// the active gauge and releases the connection's live count. Which
// connection takes which engine, and why: docs/data-path.md. It needs no
// Caddy: what it needs of Caddy and caddy-l4 comes in as Client and
// Backend.
package proxyconn

import (
	"crypto/tls"
	"net"
	"time"

	"github.com/costlb/costlb/costlb"
	"github.com/costlb/costlb/module/evloop"
	"github.com/costlb/costlb/module/history"
	"github.com/costlb/costlb/module/internal/proxied"
	"github.com/costlb/costlb/module/internal/streamcopy"
)

// Result is how a proxied connection ended, on either engine.
type Result = proxied.Result

// ErrAborted is the Result.Err of a connection ended by an abort.
var ErrAborted = proxied.ErrAborted

// The sides of a connection.
const (
	SideNone    = proxied.SideNone
	SideClient  = proxied.SideClient
	SideBackend = proxied.SideBackend
)

// Client is the client connection as a proxied connection needs it;
// l4handler gives caddy-l4's. Reading it hands out first the bytes layer4
// matchers read (Prefix), then the socket's.
type Client interface {
	net.Conn
	// Socket is the connection under it: a *net.TCPConn for plain TCP.
	Socket() net.Conn
	// Prefix is the bytes matchers read already, which go to the backend
	// first when the socket is read directly.
	Prefix() []byte
	// Replace replaces the connection's placeholders in s.
	Replace(s string) string
	// AdoptTLS returns base adopting what the client's own TLS handshake
	// tells (its ClientHello, the negotiated protocol), as caddy-l4 does:
	// base itself if there is nothing to adopt, else a changed copy.
	AdoptTLS(base *tls.Config) *tls.Config
	// ProxyAddrs are the source and destination a PROXY header tells.
	ProxyAddrs() (src, dst net.Addr)
}

// Aborter is a running proxied connection: close_if_unhealthy aborts it.
type Aborter interface{ Abort() }

// Backend is what the connections to one backend report to. Its funcs and
// interfaces are set once, before any connection.
type Backend struct {
	// Active is caddy-l4's gauge of the backend's open connections.
	Active interface {
		Inc()
		Dec()
	}
	// Watch, with close_if_unhealthy, holds each connection while it runs,
	// to abort it when the backend turns unhealthy; nil without.
	Watch interface {
		Track(Aborter)
		Untrack(Aborter)
	}
	// Ended, with silent-close detection, is told how each connection
	// ended and how long after it started its first end came; nil
	// without (and then no clock is read). On the event loop it runs on
	// the loop's goroutine: it must not block.
	Ended func(r Result, lasted time.Duration)
	// Counts, if set, takes the bytes of each connection as they move,
	// on either engine.
	Counts *history.Counts
	// LoopRefused, if set, is told why the event loop did not take a
	// connection it could have (it takes the goroutine copy loop then).
	LoopRefused func(error)
}

// engine is a data-path engine running one connection: the goroutine
// copy loop (streamcopy.Session) or the event loop (evloop.Conn). Both
// end through conn.done; Abort ends it at once.
type engine = Aborter

// conn is one proxied connection from the hand-off to its end.
type conn struct {
	b     *Backend
	t     costlb.Ticket
	start time.Time // with b.Ended
	eng   engine
}

// Run proxies client to up, the connection Dial opened to b, until it
// ends. It takes t's live count (t is left empty) and releases it once,
// when the connection ends, as it does the rest of the connection's end.
// With loops (nil: none) a connection whose two legs are plain TCP
// sockets moves to the event loop and Run returns at once; any other is
// copied by this goroutine until it ends.
func Run(loops *evloop.Pool, client Client, up net.Conn, b *Backend, t *costlb.Ticket) {
	c := &conn{b: b, t: *t}
	*t = costlb.Ticket{}
	b.Active.Inc()
	if b.Ended != nil {
		c.start = time.Now()
	}
	if loops != nil && c.toLoop(loops, client, up) {
		return
	}
	c.copy(client, up)
}

// track sets the engine that runs c and holds it for close_if_unhealthy,
// which aborts the engine itself: c.eng is written only before the
// engine runs.
func (c *conn) track(e engine) {
	c.eng = e
	if c.b.Watch != nil {
		c.b.Watch.Track(e)
	}
}

// done is the end of the connection, on either engine: it runs once.
func (c *conn) done(r Result) {
	b := c.b
	if b.Ended != nil {
		b.Ended(r, r.EndedAt.Sub(c.start))
	}
	if b.Watch != nil {
		b.Watch.Untrack(c.eng)
	}
	b.Active.Dec()
	c.t.Release()
}

// toLoop moves the connection to the event loop if both legs are plain
// TCP sockets, and reports whether it did: then the loop owns both
// sockets and ends the connection through done.
func (c *conn) toLoop(loops *evloop.Pool, client Client, up net.Conn) bool {
	down, ok := client.Socket().(*net.TCPConn)
	if !ok {
		return false
	}
	backend, ok := up.(*net.TCPConn)
	if !ok {
		return false
	}
	lc := evloop.NewConn(c.done)
	if n := c.b.Counts; n != nil {
		lc.CountTo(&n.ToBackend, &n.ToClient)
	}
	c.track(lc)
	// the matched bytes live in caddy-l4's buffer, reused once the
	// handler returns: Add copies them
	if err := loops.Add(lc, down, backend, client.Prefix()); err != nil {
		if c.b.Watch != nil {
			c.b.Watch.Untrack(lc)
		}
		if c.b.LoopRefused != nil {
			c.b.LoopRefused(err)
		}
		return false
	}
	return true
}

// copy runs the goroutine copy loop until the connection ends. The end
// is deferred, so that even a panic releases the count.
func (c *conn) copy(client Client, up net.Conn) {
	var r Result
	defer func() { c.done(r) }()
	defer up.Close()
	leg, prefix := clientLeg(client)
	backend := streamcopy.NewLeg(up)
	if n := c.b.Counts; n != nil {
		leg, backend = leg.Counting(&n.ToClient), backend.Counting(&n.ToBackend)
	}
	s := streamcopy.NewSession(leg, backend)
	c.track(s)
	r = s.Run(prefix)
}

// clientLeg returns the leg of the client connection and the bytes
// matchers already read from it, which go to the backend first. A plain
// socket is read directly after them; anything else is read through the
// client connection, which hands out those bytes itself.
func clientLeg(client Client) (streamcopy.Leg, []byte) {
	l := streamcopy.NewLeg(client.Socket())
	if l.Plain() {
		return l, client.Prefix()
	}
	return streamcopy.WrapperLeg(client, client.Socket()), nil
}
