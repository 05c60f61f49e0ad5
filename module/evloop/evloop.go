// Package evloop is the event-loop engine of costlb's data path, on
// Linux: a connection's two sockets leave Go's poller for one of a few
// epoll loops (one per CPU), so a held connection keeps no goroutine, no
// stack and, while idle, no buffer. Why, and which connections come here:
// docs/data-path.md; what it measured: docs/benchmarks.md. It needs no
// Caddy; module/internal/proxyconn hands connections to it.
package evloop

import (
	"errors"

	"github.com/costlb/costlb/module/internal/proxied"
)

// Result is how a connection ended, given to its done function once, on
// a loop's goroutine, after both sockets are closed.
type Result = proxied.Result

// ErrAborted is the Result.Err of a connection ended by Abort.
var ErrAborted = proxied.ErrAborted

// ErrClosed is returned by Add after the pool is closed.
var ErrClosed = errors.New("evloop: pool closed")
