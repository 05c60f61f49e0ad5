package streamcopy

import (
	"errors"
	"io"
	"sync"
	"syscall"

	"github.com/costlb/costlb/module/internal/pipepool"
)

// copyStream copies src to dst until src's EOF or an error.
func copyStream(dst, src *Leg) (int64, endKind, error) {
	if src.raw != nil {
		return copyRaw(dst, src)
	}
	return copyBuffered(dst, src)
}

// copyBufSize is the size of the copy buffers. A read that fills one
// marks a bulk transfer, which goes on by splice when it can.
const copyBufSize = 32 << 10

var copyBufs = sync.Pool{New: func() any { b := make([]byte, copyBufSize); return &b }}

func getBuf() *[]byte {
	if w := pipepool.Watching(); w != nil {
		w.Bufs.Add(1)
	}
	return copyBufs.Get().(*[]byte)
}

func putBuf(b *[]byte) {
	if w := pipepool.Watching(); w != nil {
		w.Bufs.Add(-1)
	}
	copyBufs.Put(b)
}

// copyBuffered copies from a source that is not a plain socket (TLS, a
// wrapper) with blocking reads. Such a source cannot say whether it holds
// data already read from its socket (crypto/tls keeps whole records), so
// the buffer is held while it waits.
func copyBuffered(dst, src *Leg) (int64, endKind, error) {
	var n int64
	b := getBuf()
	defer putBuf(b)
	for {
		nr, err := src.conn.Read(*b)
		if nr > 0 {
			nw, werr := dst.conn.Write((*b)[:nr])
			n += int64(nw)
			dst.wrote(nw)
			if werr != nil {
				return n, endWrite, werr
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			return n, endEOF, nil
		default:
			return n, endRead, err
		}
	}
}

// rawCopier copies one direction from a plain socket. Its step runs inside
// the socket's RawConn.Read for the whole life of the direction: it
// returns false to wait for readability, true when the copy ended. A
// pooled buffer is borrowed only while the socket is readable, a pipe
// only while a burst is spliced (pipepool.Burst, docs/data-path.md).
type rawCopier struct {
	dst   *Leg
	burst pipepool.Burst // splice only when dst is a plain socket too
	buf   *[]byte
	pipe  *pipe

	n   int64 // bytes written to dst
	end endKind
	err error
}

// copyRaw copies a plain socket src to dst.
func copyRaw(dst, src *Leg) (int64, endKind, error) {
	c := rawCopier{dst: dst, burst: pipepool.NewBurst(copyBufSize, dst.raw != nil && spliceSupported)}
	err := src.raw.Read(c.step)
	if c.buf != nil {
		putBuf(c.buf)
	}
	if c.pipe != nil {
		putPipe(c.pipe)
	}
	if err != nil && c.err == nil {
		c.end, c.err = endRead, err
	}
	return c.n, c.end, c.err
}

// stepResult tells step what a read or splice step did.
type stepResult int

const (
	stepAgain stepResult = iota // go on at once
	stepWait                    // wait for readability
	stepDone                    // the copy ended
)

func (c *rawCopier) step(fd uintptr) bool {
	for {
		var r stepResult
		if c.burst.Splicing() {
			r = c.spliceStep(int(fd))
		} else {
			r = c.readStep(int(fd))
		}
		switch r {
		case stepWait:
			return false
		case stepDone:
			return true
		}
	}
}

// readStep reads what the socket has into a pooled buffer and writes it.
func (c *rawCopier) readStep(fd int) stepResult {
	if c.buf == nil {
		c.buf = getBuf()
	}
	n, err := syscall.Read(fd, *c.buf)
	for err == syscall.EINTR {
		n, err = syscall.Read(fd, *c.buf)
	}
	switch {
	case err == syscall.EAGAIN:
		putBuf(c.buf)
		c.buf = nil
		return stepWait
	case err != nil:
		c.end, c.err = endRead, err
		return stepDone
	case n == 0:
		c.end = endEOF
		return stepDone
	}
	nw, err := c.dst.conn.Write((*c.buf)[:n])
	c.n += int64(nw)
	c.dst.wrote(nw)
	if err != nil {
		c.end, c.err = endWrite, err
		return stepDone
	}
	// Read again even after a short read: a FIN (or a reset) that came
	// with the data shows only on the next read, and no new readiness
	// would announce it.
	if c.burst.Read(n); c.burst.Splicing() {
		putBuf(c.buf)
		c.buf = nil
	}
	return stepAgain
}
