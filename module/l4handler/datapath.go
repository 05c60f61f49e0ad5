package l4handler

import (
	"fmt"
	"sync"

	"go.uber.org/zap"

	"github.com/costlb/costlb/module/evloop"
)

// The data_path option and the process's event loops. Which connection
// takes which engine is proxyconn's (docs/data-path.md). One pool serves
// every config, so that no reload starts or stops a loop and a config
// unloaded leaves its connections running to their end, as on the
// goroutine engine.

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
