// Package evloop is an event-loop data path for proxied TCP connections
// on Linux: both sockets of a connection are taken off Go's poller and
// registered, edge-triggered, in one of a few epoll loops (one per CPU);
// each readable event is read into the loop's buffer and written straight
// to the peer. A connection holds no goroutine, no stack and, while idle,
// no buffer: only its small state here and its two sockets. Half-closes
// and resets are passed on as the goroutine copy loop passes them on. It
// needs no Caddy.
//
// Why: the goroutine-per-direction copy loop pays a goroutine wake-up per
// read and two parked stacks per idle connection (at least 8 KiB each
// under caddy-l4's frames); HAProxy's event loop pays neither. See
// docs/benchmarks.md ("The event loop against its goals") for what it
// measured. The layer4 handler moves connections with two plain TCP legs
// here (module/l4handler/looppath.go).
package evloop

import (
	"errors"
	"time"
)

// The sides of a connection.
const (
	SideNone    int32 = iota // ended locally (Abort), or not yet ended
	SideClient               // the client ended it first
	SideBackend              // the backend ended it first
)

// Result is how a connection ended, given to its done function once,
// on a loop's goroutine, after both sockets are closed.
type Result struct {
	// ToBackend and ToClient are the bytes moved each way.
	ToBackend, ToClient int64
	// First is the side whose end (FIN or error) came first, SideNone if
	// the connection was aborted before either side ended.
	First int32
	// EndedAt is when the first end (of a side, or an abort) came.
	EndedAt time.Time
	// Reset is true if the connection ended with an error (a reset, a
	// failed write, or Abort) rather than a FIN each way; the other side
	// was then sent a reset.
	Reset bool
	// Err is the first error seen, nil after a clean close each way.
	Err error
}

// ErrAborted is the Result.Err of a connection ended by Abort.
var ErrAborted = errors.New("evloop: connection aborted")

// ErrClosed is returned by Add after the pool is closed.
var ErrClosed = errors.New("evloop: pool closed")
