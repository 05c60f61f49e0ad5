//go:build linux

package evloop

import (
	"errors"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/costlb/costlb/module/internal/proxied"
)

// maxEvents is how many events one epoll_wait returns at most.
const maxEvents = 256

// loop is one epoll loop and its goroutine.
type loop struct {
	epfd, evfd int
	buf        []byte
	mu         sync.Mutex
	byFD       map[int32]*half // registered sockets
	gen        int32
	turns      turns   // sockets with data to move, waiting for their turn
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
