//go:build linux

package evloop

import (
	"errors"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"

	"github.com/costlb/costlb/module/internal/pipepool"
	"github.com/costlb/costlb/module/internal/proxied"
)

// bufSize is a loop's read buffer, and the size of a pending buffer.
const bufSize = 64 << 10

// maxEvents is how many events one epoll_wait returns at most.
const maxEvents = 256

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

// loop is one epoll loop and its goroutine.
type loop struct {
	epfd, evfd int
	buf        []byte
	mu         sync.Mutex
	byFD       map[int32]*half // registered sockets
	gen        int32
	turns      turns   // sockets in splice mode with data to move
	aborts     []*Conn // Abort requests, under mu
	stopping   bool    // under mu
	done       chan struct{}
}

func newLoop() (*loop, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	evfd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, err
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(evfd), Pad: -1}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, evfd, &ev); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(evfd)
		return nil, err
	}
	return &loop{epfd: epfd, evfd: evfd, buf: make([]byte, bufSize), byFD: make(map[int32]*half), done: make(chan struct{})}, nil
}

// add registers both sockets of c. It holds mu throughout: the loop
// looks up each event's socket under mu, so it handles no event of c
// before both sockets are registered (one of the client could otherwise
// end c while its backend is still being added), and none at all if the
// backend's registration fails.
func (l *loop) add(c *Conn) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stopping {
		return ErrClosed
	}
	for i := range c.h {
		h := &c.h[i]
		l.gen++
		h.gen = l.gen
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(h.fd), Pad: h.gen}
		if err := unix.EpollCtl(l.epfd, unix.EPOLL_CTL_ADD, h.fd, &ev); err != nil {
			if i == 1 {
				_ = unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, c.h[0].fd, nil)
				delete(l.byFD, int32(c.h[0].fd))
			}
			return err
		}
		l.byFD[int32(h.fd)] = h
	}
	return nil
}

// post queues an abort of c and wakes the loop.
func (l *loop) post(c *Conn) {
	l.mu.Lock()
	l.aborts = append(l.aborts, c)
	l.mu.Unlock()
	l.wake()
}

func (l *loop) wake() {
	var one = [8]byte{1}
	_, _ = unix.Write(l.evfd, one[:])
}

func (l *loop) stop() {
	l.mu.Lock()
	l.stopping = true
	l.mu.Unlock()
	l.wake()
	<-l.done
}

// run is the loop's goroutine. It blocks in epoll_wait, in its own
// thread.
//
// Why not in Go's poller (the epoll fd is pollable, and could be waited
// for there, then read with epoll_wait(0)): tried, it cut the futex
// wake-ups and sleeps a loop costs Go's scheduler per new connection to
// those of the goroutine path (strace, 5000 connections: futex 7535 to
// 1697, nanosleep 45723 to 10230), but every wake-up then goes through
// the scheduler, and a single request/response connection cost the proxy
// 87 µs of CPU per request instead of 42 (HAProxy: 50).
func (l *loop) run() {
	defer close(l.done)
	events := make([]unix.EpollEvent, maxEvents)
	hs := make([]*half, maxEvents)
	for {
		// with sockets waiting for their turn, only look for what came
		// meanwhile
		timeout := -1
		if !l.turns.empty() {
			timeout = 0
		}
		n, err := unix.EpollWait(l.epfd, events, timeout)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			panic("evloop: epoll_wait: " + err.Error())
		}
		if l.batch(events[:n], hs) {
			l.closeAll()
			return
		}
		l.nextTurn()
	}
}

// batch handles the events of one epoll_wait; it reports whether the loop
// is to stop.
func (l *loop) batch(events []unix.EpollEvent, hs []*half) bool {
	wake := false
	l.mu.Lock()
	for i := range events {
		hs[i] = nil
		ev := &events[i]
		if ev.Pad == -1 && ev.Fd == int32(l.evfd) {
			wake = true
			continue
		}
		// an event of a socket closed in an earlier batch whose fd
		// number was taken again has a stale generation
		if h := l.byFD[ev.Fd]; h != nil && h.gen == ev.Pad {
			hs[i] = h
		}
	}
	var aborts []*Conn
	stopping := false
	if wake {
		aborts, l.aborts = l.aborts, nil
		stopping = l.stopping
	}
	l.mu.Unlock()
	for i := range events {
		if h := hs[i]; h != nil && !h.c.ended {
			h.event(events[i].Events)
		}
	}
	if wake {
		var b [8]byte
		_, _ = unix.Read(l.evfd, b[:])
		for _, c := range aborts {
			if !c.ended {
				c.fail(proxied.SideNone, ErrAborted)
			}
		}
	}
	return stopping
}

// closeAll aborts every connection, then closes the loop's fds.
func (l *loop) closeAll() {
	l.mu.Lock()
	var cs []*Conn
	for _, h := range l.byFD {
		if h.side == proxied.SideClient {
			cs = append(cs, h.c)
		}
	}
	l.mu.Unlock()
	for _, c := range cs {
		if !c.ended {
			c.fail(proxied.SideNone, ErrAborted)
		}
	}
	_ = unix.Close(l.evfd)
	_ = unix.Close(l.epfd)
}

// event handles an epoll event of h's socket.
func (h *half) event(ev uint32) {
	if ev&(unix.EPOLLIN|unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		h.readable = true
	}
	if ev&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		h.rdhup = true
	}
	p := h.peer
	if ev&(unix.EPOLLOUT|unix.EPOLLHUP|unix.EPOLLERR) != 0 {
		h.writable = true
		// what the peer's direction left pending can go now
		if p.pending != nil {
			p.flush()
		}
		if p.pipe != nil {
			p.flushPipe()
		}
	}
	h.serve()
	// the peer's direction, paused while its data was pending, goes on
	p.serve()
}

// pump copies from h to its peer until h's socket is drained, the peer
// cannot take more, h's direction ended, or it moved turnBudget bytes
// (then h queues for its next turn). It returns the bytes it moved.
func (h *half) pump() int {
	c := h.c
	buf := c.l.buf
	moved := 0
	for h.canMove() {
		if moved >= turnBudget {
			c.l.turns.push(h)
			return moved
		}
		if h.burst.Splicing() {
			// one splice per turn: what else comes meanwhile goes in
			// the next, in a larger splice, rather than in a splice now
			// that finds the socket empty
			moved += h.spliceIn()
			if h.canMove() {
				c.l.turns.push(h)
				return moved
			}
			continue
		}
		n, err := unix.Read(h.fd, buf)
		if err != nil {
			if err == unix.EAGAIN {
				h.readable = false
				return moved
			}
			if err == unix.EINTR {
				continue
			}
			c.fail(h.side, err)
			return moved
		}
		if n == 0 {
			h.eof = true
			c.first(h.side)
			h.passFIN()
			return moved
		}
		*h.n += int64(n)
		moved += n
		if h.live != nil {
			h.live.Add(uint64(n))
		}
		rest, ok := h.send(buf[:n])
		if !ok {
			return moved
		}
		if len(rest) > 0 {
			// the peer is slower: keep the rest, and read h no more until
			// it is written
			h.pbuf = getBuf()
			h.pending = h.pbuf[:copy(h.pbuf, rest)]
			return moved
		}
		// a short read drained the socket: its next data brings a new
		// edge, so no read to EAGAIN is needed, unless the FIN came
		if n < len(buf) && !h.rdhup {
			h.readable = false
			return moved
		}
		// a burst: the rest of it goes by splice, socket to pipe to
		// socket, never through the loop's memory
		h.burst.Read(n)
	}
	return moved
}

// spliceIn moves what h's socket has, up to a turn's budget, into a pipe
// taken from the pool, and on into the peer as far as it takes it; it
// returns the bytes taken from the socket. A pipe is held only while it
// holds data the peer has not taken yet. A burst is spliced until the
// socket says it is drained (unlike a read, a splice that moved less than
// asked may not have: the pipe has a slot per packet).
func (h *half) spliceIn() int {
	p, err := pipepool.Get()
	if err != nil {
		h.burst.Refuse() // read on, nothing lost
		return 0
	}
	in, err := p.FillUpTo(h.fd, turnBudget)
	if err != nil || in == 0 {
		pipepool.Put(p)
		switch {
		case err == unix.EAGAIN:
			h.readable = false
			h.burst.Drained()
		case err == unix.EINVAL:
			h.burst.Refuse() // this socket cannot splice: read it
		case err != nil:
			h.c.fail(h.side, err)
		default:
			h.eof = true
			h.c.first(h.side)
			h.passFIN()
		}
		return 0
	}
	*h.n += int64(in)
	if h.live != nil {
		h.live.Add(uint64(in))
	}
	h.burst.Spliced(int64(in))
	h.pipe = p
	h.flushPipe()
	return in
}

// flushPipe splices h's pipe into its peer as far as the peer takes it;
// once the pipe is empty it goes back to the pool and h's FIN, if it
// came, is passed on.
func (h *half) flushPipe() {
	p, peer := h.pipe, h.peer
	if peer.writable {
		_, err := p.Drain(peer.fd)
		switch {
		case err == unix.EAGAIN:
			peer.writable = false
		case err != nil:
			h.c.fail(peer.side, err)
			return
		}
	}
	if p.Data > 0 {
		return
	}
	pipepool.Put(p)
	h.pipe = nil
	if h.eof {
		h.passFIN()
	}
}

// send writes b to h's peer as far as the peer takes it now, and returns
// the rest; ok is false if the connection failed.
func (h *half) send(b []byte) (rest []byte, ok bool) {
	p := h.peer
	for len(b) > 0 && p.writable {
		n, err := unix.Write(p.fd, b)
		if err != nil {
			if err == unix.EAGAIN {
				p.writable = false
				break
			}
			if err == unix.EINTR {
				continue
			}
			h.c.fail(p.side, err)
			return nil, false
		}
		b = b[n:]
	}
	return b, true
}

// flush writes h's pending data to its peer as far as it goes; once none
// is left, the buffer goes back to the pool and h's FIN, if it came, is
// passed on.
func (h *half) flush() {
	rest, ok := h.send(h.pending)
	if !ok {
		return
	}
	if len(rest) > 0 {
		h.pending = rest
		return
	}
	putBuf(h.pbuf)
	h.pbuf, h.pending = nil, nil
	if h.eof {
		h.passFIN()
	}
}

// passFIN shuts down the peer's write side once h's pending data is
// written, and ends the connection when both directions are done.
func (h *half) passFIN() {
	if h.pending != nil || h.pipe != nil || h.shut || h.c.ended {
		return
	}
	h.shut = true
	if err := unix.Shutdown(h.peer.fd, unix.SHUT_WR); err != nil && err != unix.ENOTCONN {
		h.c.fail(h.peer.side, err)
		return
	}
	if h.peer.shut {
		h.c.end()
	}
}

// first records side as the first to end, and when, if none did before.
func (c *Conn) first(side proxied.Side) {
	if c.res.EndedAt.IsZero() {
		c.res.First = side
		c.res.EndedAt = time.Now()
	}
}

// fail ends the connection after an error of side's socket: both
// sockets are closed with a reset.
func (c *Conn) fail(side proxied.Side, err error) {
	if c.ended {
		return
	}
	c.first(side)
	c.res.Reset = true
	c.res.Err = err
	for i := range c.h {
		_ = unix.SetsockoptLinger(c.h[i].fd, unix.SOL_SOCKET, unix.SO_LINGER, &unix.Linger{Onoff: 1, Linger: 0})
	}
	c.end()
}

// end closes both sockets and calls done.
func (c *Conn) end() {
	c.ended = true
	l := c.l
	l.mu.Lock()
	for i := range c.h {
		h := &c.h[i]
		if cur := l.byFD[int32(h.fd)]; cur == h {
			delete(l.byFD, int32(h.fd))
		}
	}
	l.mu.Unlock()
	for i := range c.h {
		h := &c.h[i]
		// closing the only descriptor of the socket also takes it out of
		// the epoll set
		_ = unix.Close(h.fd)
		if h.pbuf != nil {
			putBuf(h.pbuf)
			h.pbuf, h.pending = nil, nil
		}
		if h.pipe != nil {
			pipepool.Put(h.pipe) // closed, as it holds data
			h.pipe = nil
		}
	}
	if c.done != nil {
		c.done(c.res)
	}
}

// bufs holds the buffers of pending data, taken only while a peer is
// slower than its source.
var bufs = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

func getBuf() []byte { return *(bufs.Get().(*[]byte)) }

func putBuf(b []byte) {
	b = b[:cap(b)]
	if len(b) == bufSize {
		bufs.Put(&b)
	}
}
