//go:build linux

package pipepool

import (
	"io"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Size is the capacity asked for each pipe, and the most one splice call
// moves; a smaller pipe (the system may refuse a larger one) works too,
// with more calls.
const Size = 1 << 20

// SpliceFlags are the flags of every splice through a pool pipe: neither
// end may block the caller, which waits on readiness instead.
const SpliceFlags = unix.SPLICE_F_MOVE | unix.SPLICE_F_NONBLOCK

// maxIdle bounds the pipes the pool keeps while no connection uses them;
// more are closed when given back.
const maxIdle = 32

// idleTTL is how long a pipe stays in the pool unused before it is
// closed: a quiet proxy holds no pipe.
const idleTTL = 5 * time.Second

// Pipe is a pipe to splice through.
type Pipe struct {
	R, W      int   // read and write ends, non-blocking
	Data      int   // bytes in the pipe: the user keeps it up to date
	idleSince int64 // when it was given back to the pool, Unix ns
}

var pool struct {
	sync.Mutex
	free     []*Pipe // the most recently used last
	trimming bool    // a trim is scheduled
}

// Get returns an empty pipe from the pool, or a new one.
func Get() (*Pipe, error) {
	pool.Lock()
	if n := len(pool.free); n > 0 {
		p := pool.free[n-1]
		pool.free = pool.free[:n-1]
		pool.Unlock()
		if watch != nil {
			watch.Pipes.Add(1)
		}
		return p, nil
	}
	pool.Unlock()
	if watch != nil {
		watch.Pipes.Add(1)
	}
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		return nil, err
	}
	// a larger pipe moves a burst in fewer calls; the default works too
	_, _ = unix.FcntlInt(uintptr(fds[0]), unix.F_SETPIPE_SZ, Size)
	return &Pipe{R: fds[0], W: fds[1]}, nil
}

// Put gives p back to the pool, or closes it if it still holds data
// (after a failed write) or the pool is full.
func Put(p *Pipe) {
	if watch != nil {
		watch.Pipes.Add(-1)
	}
	if p.Data == 0 {
		p.idleSince = time.Now().UnixNano()
		pool.Lock()
		if len(pool.free) < maxIdle {
			pool.free = append(pool.free, p)
			if !pool.trimming {
				pool.trimming = true
				time.AfterFunc(idleTTL, trim)
			}
			pool.Unlock()
			return
		}
		pool.Unlock()
	}
	closePipe(p)
}

// Fill splices what the socket fd has into p, which is empty, and
// returns the bytes moved: 0 with a nil error at the socket's EOF.
func (p *Pipe) Fill(fd int) (int, error) {
	n, err := unix.Splice(fd, nil, p.W, nil, Size, SpliceFlags)
	for err == unix.EINTR {
		n, err = unix.Splice(fd, nil, p.W, nil, Size, SpliceFlags)
	}
	if n > 0 {
		p.Data = int(n)
	}
	return int(n), err
}

// Drain splices p's data into the socket fd until p is empty, fd takes no
// more (EAGAIN) or fails, and returns the bytes moved.
func (p *Pipe) Drain(fd int) (int, error) {
	out, err := 0, error(nil)
	for p.Data > 0 && err == nil {
		m, serr := unix.Splice(p.R, nil, fd, nil, p.Data, SpliceFlags)
		switch {
		case m > 0:
			p.Data -= int(m)
			out += int(m)
		case serr == unix.EINTR:
		case serr != nil:
			err = serr
		default: // nothing moved, no error, data in the pipe: cannot be
			err = io.ErrUnexpectedEOF
		}
	}
	if watch != nil {
		watch.Spliced.Add(int64(out))
	}
	return out, err
}

func closePipe(p *Pipe) {
	_ = syscall.Close(p.R)
	_ = syscall.Close(p.W)
}

// trim closes the pipes unused for idleTTL, and runs again when the
// oldest pipe left will be, while the pool holds any.
func trim() {
	cutoff := time.Now().Add(-idleTTL).UnixNano()
	pool.Lock()
	old := 0
	for old < len(pool.free) && pool.free[old].idleSince <= cutoff {
		old++
	}
	stale := slices.Clone(pool.free[:old])
	pool.free = slices.Delete(pool.free, 0, old)
	if len(pool.free) > 0 {
		// when the oldest left turns stale: a pipe is closed at most a
		// little after idleTTL, not up to twice that
		time.AfterFunc(time.Duration(pool.free[0].idleSince-cutoff), trim)
	} else {
		pool.trimming = false
	}
	pool.Unlock()
	for _, p := range stale {
		closePipe(p)
	}
}

// Idle returns how many pipes the pool holds.
func Idle() int {
	pool.Lock()
	defer pool.Unlock()
	return len(pool.free)
}
