package streamcopy

import (
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"syscall"
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

// poolWatch counts what the pools lend, for this package's tests.
type poolWatch struct {
	bufs    atomic.Int64 // copy buffers borrowed and not given back
	pipes   atomic.Int64 // pipes taken and not given back: of data moving right now
	spliced atomic.Int64 // bytes moved by splice
}

// watch is nil but in this package's tests, which set it before any copy
// runs: the data path pays a nil check, and shares no counter across
// connections.
var watch *poolWatch

func getBuf() *[]byte {
	if watch != nil {
		watch.bufs.Add(1)
	}
	return copyBufs.Get().(*[]byte)
}

func putBuf(b *[]byte) {
	if watch != nil {
		watch.bufs.Add(-1)
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
// returns false to wait for readability, true when the copy ended.
//
// Small transfers are read into a pooled buffer, borrowed when the socket
// is readable and given back when it has nothing more (splice costs more
// than a read and a write for a few bytes). A read that fills the buffer
// starts splice mode, when both sockets are plain: a pipe from the pool
// moves the bytes until the socket is empty, and a few bursts in a row
// smaller than a buffer go back to reading.
type rawCopier struct {
	dst       *Leg
	canSplice bool // dst is a plain socket and splice has not failed
	splicing  bool
	burst     int64 // bytes spliced since the last wait
	// bursts smaller than a buffer in a row, in splice mode
	smallBursts int
	buf         *[]byte
	pipe        *pipe

	n   int64 // bytes written to dst
	end endKind
	err error
}

// copyRaw copies a plain socket src to dst.
func copyRaw(dst, src *Leg) (int64, endKind, error) {
	c := rawCopier{dst: dst, canSplice: dst.raw != nil && spliceSupported}
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
		if c.splicing {
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
	if err != nil {
		c.end, c.err = endWrite, err
		return stepDone
	}
	// Read again even after a short read: a FIN (or a reset) that came
	// with the data shows only on the next read, and no new readiness
	// would announce it.
	if n == len(*c.buf) && c.canSplice {
		putBuf(c.buf)
		c.buf = nil
		c.splicing, c.burst = true, 0
	}
	return stepAgain
}
