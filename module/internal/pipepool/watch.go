package pipepool

import "sync/atomic"

// Watch counts what the data paths hold and splice, for their tests.
type Watch struct {
	Pipes   atomic.Int64 // pipes taken from the pool and not given back
	Bufs    atomic.Int64 // the copy loop's buffers borrowed and not given back
	Spliced atomic.Int64 // bytes moved out of pipes by Drain
}

// watch is nil but in tests: the data path pays a nil check, and shares no
// counter across connections.
var watch *Watch

// SetWatch makes w count from now on. Only tests call it, before any
// connection runs.
func SetWatch(w *Watch) { watch = w }

// Watching returns the watch of SetWatch, nil outside tests.
func Watching() *Watch { return watch }
