//go:build linux

package evloop

import (
	"net"
	"runtime"
	"sync/atomic"

	"golang.org/x/sys/unix"

	"github.com/costlb/costlb/module/internal/pipepool"
	"github.com/costlb/costlb/module/internal/proxied"
)

// bufSize is a loop's read buffer, and the size of a pending buffer.
const bufSize = 64 << 10

// Pool is a set of event loops, one per CPU by default; connections are
// spread over them in turn. Its zero value is not usable: call NewPool.
type Pool struct {
	loops  []*loop
	next   atomic.Uint32
	closed atomic.Bool
}

// NewPool starts n event loops (runtime.GOMAXPROCS(0) if n < 1).
func NewPool(n int) (*Pool, error) {
	if n < 1 {
		n = runtime.GOMAXPROCS(0)
	}
	p := &Pool{}
	for range n {
		l, err := newLoop()
		if err != nil {
			p.Close()
			return nil, err
		}
		p.loops = append(p.loops, l)
		go l.run()
	}
	return p, nil
}

// Close stops the loops; every connection still in them is aborted (its
// done function is called with ErrAborted). Add fails afterwards.
func (p *Pool) Close() {
	if p.closed.Swap(true) {
		return
	}
	for _, l := range p.loops {
		l.stop()
	}
}

// Conn is a connection in a loop.
type Conn struct {
	l      *loop                // set by Add
	in     atomic.Pointer[loop] // l, once c is registered in it: for Abort
	h      [2]half              // client, backend
	done   func(Result)
	res    Result
	ended  bool // both fds closed, done called (loop goroutine only)
	abortQ atomic.Bool
	// count, if set (CountTo), takes the bytes of each direction as they
	// move: from the client (to the backend), from the backend
	count [2]*atomic.Uint64
}

// half is one socket of a connection and the direction read from it.
type half struct {
	c        *Conn
	fd       int
	gen      int32
	side     proxied.Side
	peer     *half
	readable bool           // an edge said so and no read has hit EAGAIN since
	queued   bool           // waiting for its turn in its loop's turns
	writable bool           // no write has hit EAGAIN since the last EPOLLOUT edge
	rdhup    bool           // the peer's FIN arrived: read to EOF, not to a short read
	eof      bool           // read from this socket ended (FIN)
	shut     bool           // the FIN was passed on: peer's write side shut down
	pending  []byte         // read from this socket, not yet written to peer
	pbuf     []byte         // the pooled buffer pending points into
	burst    pipepool.Burst // when to splice (docs/data-path.md)
	pipe     *pipepool.Pipe // spliced from this socket, not yet into peer
	n        *int64         // bytes moved from this socket
	live     *atomic.Uint64 // the same, as they move, for the outside; nil: none
}

// NewConn returns a connection not yet in a pool, whose done function is
// called once, with the result, when it ends after Add (it runs on a
// loop's goroutine and must not block). It can be aborted already: the
// abort takes effect once it is added. A Conn is added once.
func NewConn(done func(Result)) *Conn {
	return &Conn{done: done}
}

// CountTo makes c add the bytes it moves to toBackend and toClient as
// they move (a read or a splice into a pipe at a time), so that a long
// connection's bytes show while it lasts. Call it before Add.
func (c *Conn) CountTo(toBackend, toClient *atomic.Uint64) {
	c.count = [2]*atomic.Uint64{toBackend, toClient}
}

// Add takes client and backend off Go's poller (each fd is duplicated,
// registered in a loop, and the net.TCPConn closed) and moves the bytes
// between them in c until both directions end; then both sockets are
// closed and c's done function is called. prefix, bytes already read
// from the client, goes to the backend first. On error nothing was
// taken: the caller still owns both connections, and done is not called.
func (p *Pool) Add(c *Conn, client, backend *net.TCPConn, prefix []byte) error {
	if p.closed.Load() {
		return ErrClosed
	}
	cfd, err := dupFD(client)
	if err != nil {
		return err
	}
	bfd, err := dupFD(backend)
	if err != nil {
		_ = unix.Close(cfd)
		return err
	}
	l := p.loops[p.next.Add(1)%uint32(len(p.loops))]
	c.h[0] = half{c: c, fd: cfd, side: proxied.SideClient, peer: &c.h[1], readable: true, writable: true, n: &c.res.ToBackend, live: c.count[0], burst: pipepool.NewBurst(bufSize, true)}
	c.h[1] = half{c: c, fd: bfd, side: proxied.SideBackend, peer: &c.h[0], readable: true, writable: true, n: &c.res.ToClient, live: c.count[1], burst: pipepool.NewBurst(bufSize, true)}
	if len(prefix) > 0 {
		// pending until the backend's first EPOLLOUT edge, which comes
		// with the registration: the client is read only after it went
		h := &c.h[0]
		if len(prefix) <= bufSize {
			h.pbuf = getBuf()
		} else {
			h.pbuf = make([]byte, len(prefix))
		}
		h.pending = h.pbuf[:copy(h.pbuf, prefix)]
		c.res.ToBackend = int64(len(prefix))
	}
	// closed only once registered: until then Go's poller keeps them,
	// should the registration fail; Go takes its own descriptor out of
	// its epoll set as it closes it
	c.l = l
	if err := l.add(c); err != nil {
		_ = unix.Close(cfd)
		_ = unix.Close(bfd)
		if h := &c.h[0]; h.pbuf != nil {
			putBuf(h.pbuf)
		}
		c.h = [2]half{}
		c.res = Result{}
		return err
	}
	// an Abort before this sees no loop, and this sees its abortQ (a
	// second post of the abort does nothing)
	c.in.Store(l)
	if len(prefix) > 0 && c.count[0] != nil {
		c.count[0].Add(uint64(len(prefix)))
	}
	if c.abortQ.Load() {
		l.post(c)
	}
	_ = client.Close()
	_ = backend.Close()
	return nil
}

// Abort ends the connection with a reset to both sides, from any
// goroutine; done is called as for any end. It does nothing once the
// connection ended, and before Add it makes Add's connection end so.
func (c *Conn) Abort() {
	if c.abortQ.Swap(true) {
		return
	}
	if l := c.in.Load(); l != nil {
		l.post(c)
	}
}

// dupFD returns a duplicate of c's socket, non-blocking and close-on-exec.
func dupFD(c *net.TCPConn) (int, error) {
	rc, err := c.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	var derr error
	if err := rc.Control(func(s uintptr) {
		fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, derr
	}
	return fd, nil
}
