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

	"github.com/costlb/costlb/module/internal/proxied"
)

// The sides of a connection (proxied.Side).
const (
	SideNone    = proxied.SideNone
	SideClient  = proxied.SideClient
	SideBackend = proxied.SideBackend
)

// Result is how a connection ended, given to its done function once, on
// a loop's goroutine, after both sockets are closed.
type Result = proxied.Result

// ErrAborted is the Result.Err of a connection ended by Abort.
var ErrAborted = proxied.ErrAborted

// ErrClosed is returned by Add after the pool is closed.
var ErrClosed = errors.New("evloop: pool closed")
