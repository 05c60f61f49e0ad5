package l4handler

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/mholt/caddy-l4/layer4"
	"go.uber.org/zap"

	"github.com/costlb/costlb/costlb"
	"github.com/costlb/costlb/module/evloop"
)

// The event-loop data path. A connection whose two legs are plain TCP
// sockets (no TLS either side, no wrapper of another layer4 handler)
// leaves Go's poller once its backend is dialed, for one of the
// process's epoll loops (module/evloop): Handle returns, and caddy-l4's
// goroutine of the connection ends with it, so a held connection keeps no
// goroutine, no stack and, while idle, no buffer. Everything the
// goroutine copy loop keeps holds there too: the count is released once,
// when the loop ends the connection, as are caddy-l4's active gauge,
// silent-close detection and close_if_unhealthy's tracking.
//
// One pool serves every config: a config unloaded leaves its connections
// running to their end, as the goroutine path does, and no reload starts
// or stops a loop.

// Data paths (data_path).
const (
	dataPathAuto       = "auto"       // the event loop where both legs are plain TCP, on Linux
	dataPathGoroutines = "goroutines" // the goroutine copy loop for every connection
)

// checkDataPath refuses a data_path other than the known ones.
func checkDataPath(v string) error {
	switch v {
	case "", dataPathAuto, dataPathGoroutines:
		return nil
	}
	return fmt.Errorf("data_path %q: must be %q (the event loop for plain TCP legs, the default) or %q", v, dataPathAuto, dataPathGoroutines)
}

var (
	loopsOnce sync.Once
	loops     *evloop.Pool // nil if the loops could not start (or not Linux)
)

// loopPool returns the process's event loops, one per CPU, started on
// first use (the first Provision with data_path auto); nil where there
// are none, and then every connection takes the goroutine path.
func loopPool(logger *zap.Logger) *evloop.Pool {
	loopsOnce.Do(func() {
		p, err := evloop.NewPool(0)
		if err != nil {
			logger.Info("event-loop data path unavailable; connections take the goroutine copy loop", zap.Error(err))
			return
		}
		loops = p
	})
	return loops
}

// loopConn is the state a connection in the loop ends with.
type loopConn struct {
	h     *Handler
	b     *backend
	t     costlb.Ticket
	c     *evloop.Conn
	start time.Time // when it was added, with silent-close detection on
}

// toLoop moves the connection between down and up to the event loop, if
// both are plain TCP sockets. It reports whether it did: then the loop
// owns both sockets and t's count (t is left empty), and ends them. The
// backend's opened and active metrics were counted already.
func (h *Handler) toLoop(down *layer4.Connection, up net.Conn, b *backend, t *costlb.Ticket) bool {
	client, ok := down.Conn.(*net.TCPConn)
	if !ok {
		return false
	}
	backend, ok := up.(*net.TCPConn)
	if !ok {
		return false
	}
	lc := &loopConn{h: h, b: b, t: *t}
	lc.c = evloop.NewConn(lc.done)
	if h.closeIfUnhealthy {
		b.passive.track(lc.c)
	}
	if h.passivePol.silentWithin > 0 {
		lc.start = time.Now()
	}
	// the bytes matchers read live in caddy-l4's buffer, reused once
	// Handle returns: Add copies them
	if err := h.loops.Add(lc.c, client, backend, down.MatchingBytes()); err != nil {
		if h.closeIfUnhealthy {
			b.passive.untrack(lc.c)
		}
		if ce := h.logger.Check(zap.DebugLevel, "event loop refused a connection; it takes the goroutine copy loop"); ce != nil {
			ce.Write(zap.String("service", h.Name), zap.Error(err))
		}
		return false
	}
	*t = costlb.Ticket{} // lc.t holds the count now
	return true
}

// done ends a connection of the loop, on the loop's goroutine: nothing
// here blocks.
func (lc *loopConn) done(r evloop.Result) {
	h, b := lc.h, lc.b
	if h.passivePol.silentWithin > 0 {
		h.passivePol.observe(b.passive, r.ToClient > 0, r.First == evloop.SideBackend, r.EndedAt.Sub(lc.start))
	}
	if h.closeIfUnhealthy {
		b.passive.untrack(lc.c)
	}
	b.active.Dec()
	lc.t.Release()
}
