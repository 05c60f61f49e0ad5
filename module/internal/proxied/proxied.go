// Package proxied is what costlb's two data-path engines (the goroutine
// copy loop, module/internal/streamcopy, and the event loop,
// module/evloop) say alike about a proxied connection: its sides and how
// it ended. See docs/data-path.md. It needs no Caddy.
package proxied

import (
	"errors"
	"time"
)

// Side is a side of a proxied connection.
type Side int32

// The sides of a connection.
const (
	SideNone    Side = iota // ended locally (Abort), or not yet ended
	SideClient              // the client
	SideBackend             // the backend
)

// Other returns the side that is not s (SideClient for SideNone).
func (s Side) Other() Side {
	if s == SideClient {
		return SideBackend
	}
	return SideClient
}

// Result is how a proxied connection ended, on either engine.
type Result struct {
	// ToBackend and ToClient are the bytes moved each way.
	ToBackend, ToClient int64
	// First is the side whose end (FIN or error) came first, SideNone if
	// the connection was aborted before either side ended.
	First Side
	// EndedAt is when the first end (of a side, or an abort) came.
	EndedAt time.Time
	// Reset is true if the connection ended with an error (a reset, a
	// failed write, or an abort) rather than a FIN each way.
	Reset bool
	// Err is the first error seen, nil after a clean close each way.
	Err error
}

// ErrAborted is the Result.Err of a connection ended by an abort (close_if_unhealthy).
var ErrAborted = errors.New("proxied connection aborted")
