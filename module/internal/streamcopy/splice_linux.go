package streamcopy

import (
	"io"
	"slices"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Go's own splice (io.Copy between two *net.TCPConn) keeps a pipe per
// direction for the whole connection, and its io.Copy blocks in a read
// that holds it: an idle proxied connection would hold two pipes, four
// file descriptors. This loop takes a pipe from a small pool only while a
// burst of data moves and gives it back, empty, when the source has
// nothing to read; it waits for the next burst on the socket's readiness,
// holding nothing.

// pipeSize is the capacity asked for each pool pipe, and the most one
// splice call moves; a smaller pipe (the system may refuse a larger one)
// works too, with more calls.
const pipeSize = 1 << 20

// maxIdlePipes bounds the pipes the pool keeps while no connection uses
// them; more are closed when given back.
const maxIdlePipes = 32

// pipeIdleTTL is how long a pipe stays in the pool unused before it is
// closed: a quiet proxy holds no pipe.
const pipeIdleTTL = 5 * time.Second

// pipe is a pipe used to splice between two sockets.
type pipe struct {
	r, w      int
	data      int   // bytes in the pipe
	idleSince int64 // when it was given back to the pool, Unix ns
}

var pipes struct {
	sync.Mutex
	free     []*pipe // the most recently used last
	trimming bool    // a trimPipes is scheduled
}

// getPipe returns an empty pipe from the pool, or a new one.
func getPipe() (*pipe, error) {
	p, err := takePipe()
	if err == nil && watch != nil {
		watch.pipes.Add(1)
	}
	return p, err
}

func takePipe() (*pipe, error) {
	pipes.Lock()
	if n := len(pipes.free); n > 0 {
		p := pipes.free[n-1]
		pipes.free = pipes.free[:n-1]
		pipes.Unlock()
		return p, nil
	}
	pipes.Unlock()
	var fds [2]int
	if err := syscall.Pipe2(fds[:], syscall.O_CLOEXEC|syscall.O_NONBLOCK); err != nil {
		return nil, err
	}
	// a larger pipe moves a burst in fewer calls; the default works too
	_, _ = unix.FcntlInt(uintptr(fds[0]), unix.F_SETPIPE_SZ, pipeSize)
	return &pipe{r: fds[0], w: fds[1]}, nil
}

// putPipe gives p back to the pool, or closes it if it still holds data
// (after a failed write) or the pool is full.
func putPipe(p *pipe) {
	if watch != nil {
		watch.pipes.Add(-1)
	}
	if p.data == 0 {
		p.idleSince = time.Now().UnixNano()
		pipes.Lock()
		if len(pipes.free) < maxIdlePipes {
			pipes.free = append(pipes.free, p)
			if !pipes.trimming {
				pipes.trimming = true
				time.AfterFunc(pipeIdleTTL, trimPipes)
			}
			pipes.Unlock()
			return
		}
		pipes.Unlock()
	}
	closePipe(p)
}

func closePipe(p *pipe) {
	_ = syscall.Close(p.r)
	_ = syscall.Close(p.w)
}

// trimPipes closes the pipes unused for pipeIdleTTL, and runs again when
// the oldest pipe left will be, while the pool holds any.
func trimPipes() {
	cutoff := time.Now().Add(-pipeIdleTTL).UnixNano()
	pipes.Lock()
	old := 0
	for old < len(pipes.free) && pipes.free[old].idleSince <= cutoff {
		old++
	}
	stale := slices.Clone(pipes.free[:old])
	pipes.free = slices.Delete(pipes.free, 0, old)
	if len(pipes.free) > 0 {
		// when the oldest left turns stale: a pipe is closed at most a
		// little after pipeIdleTTL, not up to twice that
		time.AfterFunc(time.Duration(pipes.free[0].idleSince-cutoff), trimPipes)
	} else {
		pipes.trimming = false
	}
	pipes.Unlock()
	for _, p := range stale {
		closePipe(p)
	}
}

// idlePipes returns how many pipes the pool holds (for tests).
func idlePipes() int {
	pipes.Lock()
	defer pipes.Unlock()
	return len(pipes.free)
}

const spliceFlags = unix.SPLICE_F_MOVE | unix.SPLICE_F_NONBLOCK

// smallBurstsToRead is how many bursts smaller than a copy buffer in a row
// end splice mode.
const smallBurstsToRead = 4

// spliceSupported tells that this system can splice.
const spliceSupported = true

// spliceStep moves what the socket has to a pipe, and the pipe's bytes to
// the destination socket. The pipe is taken from the pool for a burst and
// given back, empty, when the socket has nothing more to read. Unlike a
// read, a splice that moves less than asked may not have drained the
// socket (the pipe has a slot per packet), so splice mode always reads
// until the socket says it is empty.
func (c *rawCopier) spliceStep(fd int) stepResult {
	if c.pipe == nil {
		p, err := getPipe()
		if err != nil {
			c.splicing, c.canSplice = false, false // go on reading, nothing lost
			return stepAgain
		}
		c.pipe = p
	}
	in, err := syscall.Splice(fd, nil, c.pipe.w, nil, pipeSize, spliceFlags)
	for err == syscall.EINTR {
		in, err = syscall.Splice(fd, nil, c.pipe.w, nil, pipeSize, spliceFlags)
	}
	switch {
	case err == syscall.EAGAIN:
		putPipe(c.pipe)
		c.pipe = nil
		// small bursts are cheaper read; a few in a row, so that a bulk
		// transfer whose bursts vary does not go back and forth
		if c.burst >= copyBufSize {
			c.smallBursts = 0
		} else if c.smallBursts++; c.smallBursts >= smallBurstsToRead {
			c.splicing, c.smallBursts = false, 0
		}
		c.burst = 0
		return stepWait
	case err == syscall.EINVAL:
		c.splicing, c.canSplice = false, false // this socket cannot splice
		return stepAgain
	case err != nil:
		c.end, c.err = endRead, err
		return stepDone
	case in == 0:
		c.end = endEOF
		return stepDone
	}
	c.pipe.data = int(in)
	out, err := spliceOut(c.dst.raw, c.pipe)
	c.n += int64(out)
	if watch != nil {
		watch.spliced.Add(int64(out))
	}
	c.burst += in
	if err != nil {
		c.end, c.err = endWrite, err
		return stepDone
	}
	return stepAgain
}

// spliceOut moves all of p's data to dst, waiting while dst cannot take
// more. It returns the bytes moved.
func spliceOut(dst syscall.RawConn, p *pipe) (int, error) {
	var out int
	var werr error
	err := dst.Write(func(fd uintptr) bool {
		for p.data > 0 {
			m, err := syscall.Splice(p.r, nil, int(fd), nil, p.data, spliceFlags)
			switch {
			case m > 0:
				p.data -= int(m)
				out += int(m)
			case err == syscall.EINTR:
			case err == syscall.EAGAIN:
				return false
			case err != nil:
				werr = err
				return true
			default:
				werr = io.ErrUnexpectedEOF // the pipe holds data: cannot happen
				return true
			}
		}
		return true
	})
	if err != nil {
		return out, err
	}
	return out, werr
}

// resetAtEOF reports whether a TCP socket whose read returned EOF was in
// fact reset by its peer. The kernel reports a reset as an error once: if
// a write on the other direction took the error first, the read sees only
// the end of the stream. A socket that has not sent its own FIN is in
// CLOSE_WAIT after the peer's FIN, CLOSE after a reset.
func resetAtEOF(rc syscall.RawConn) bool {
	var state uint8
	err := rc.Control(func(fd uintptr) {
		if info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO); err == nil {
			state = info.State
		}
	})
	return err == nil && state == tcpClose
}

// tcpClose is the TCP_CLOSE state of linux/tcp_states.h.
const tcpClose = 7
