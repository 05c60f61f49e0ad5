package l4handler

import (
	"fmt"
	"sync"

	"go.uber.org/zap"

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
