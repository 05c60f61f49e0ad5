//go:build !linux

package evloop

import (
	"errors"
	"net"
	"sync/atomic"
)

// Pool is a set of event loops; off Linux there are none.
type Pool struct{}

// Conn is a connection in a loop.
type Conn struct{}

// errUnsupported is NewPool's error off Linux.
var errUnsupported = errors.New("evloop: only on Linux")

// NewPool fails off Linux: connections keep the goroutine copy loop.
func NewPool(n int) (*Pool, error) { return nil, errUnsupported }

// Close does nothing off Linux.
func (p *Pool) Close() {}

// NewConn returns a connection that no pool off Linux takes.
func NewConn(done func(Result)) *Conn { return &Conn{} }

// Add fails off Linux.
func (p *Pool) Add(c *Conn, client, backend *net.TCPConn, prefix []byte) error {
	return errUnsupported
}

// CountTo does nothing off Linux.
func (c *Conn) CountTo(toBackend, toClient *atomic.Uint64) {}

// Abort does nothing off Linux.
func (c *Conn) Abort() {}
