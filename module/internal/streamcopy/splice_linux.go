package streamcopy

import (
	"syscall"

	"golang.org/x/sys/unix"

	"github.com/costlb/costlb/module/internal/pipepool"
)

// pipe is a pipe of the pool.
type pipe = pipepool.Pipe

// getPipe takes a pipe from the pool.
func getPipe() (*pipe, error) { return pipepool.Get() }

// putPipe gives p back to the pool (which closes it if it holds data).
func putPipe(p *pipe) { pipepool.Put(p) }

// idlePipes returns how many pipes the pool holds (for tests).
func idlePipes() int { return pipepool.Idle() }

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
			c.burst.Refuse() // go on reading, nothing lost
			return stepAgain
		}
		c.pipe = p
	}
	in, err := c.pipe.Fill(fd)
	switch {
	case err == syscall.EAGAIN:
		putPipe(c.pipe)
		c.pipe = nil
		c.burst.Drained()
		return stepWait
	case err == syscall.EINVAL:
		c.burst.Refuse() // this socket cannot splice
		return stepAgain
	case err != nil:
		c.end, c.err = endRead, err
		return stepDone
	case in == 0:
		c.end = endEOF
		return stepDone
	}
	out, err := spliceOut(c.dst.raw, c.pipe)
	c.n += int64(out)
	c.dst.wrote(out)
	c.burst.Spliced(int64(in))
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
		m, err := p.Drain(int(fd))
		out += m
		if err == syscall.EAGAIN {
			return false
		}
		werr = err
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
