// Package history keeps what happened to costlb's services over the last
// minutes, in bounded memory: per service and backend a fixed-size ring of
// one sample a second (live connections, new connections, bytes each way,
// failed dials, refused connections), and the last events (failover,
// failback, a gateway ready or not, a backend up or down, a cost change, a
// reload). It is process-wide, like the live counts, so that a reload
// keeps it; a caller samples it (Store.Sample) once an interval. It needs
// no Caddy.
package history

import (
	"sync/atomic"
)

// Length is how many samples a series keeps: 15 minutes at one a second.
const Length = 900

// Counts are the running totals of one backend of one service (or, for
// Refused, of the service), added to by the data path as connections
// fail or end and read by each sample. They only grow.
type Counts struct {
	// ToBackend and ToClient are the bytes proxied each way.
	ToBackend, ToClient atomic.Uint64
	// FailedDials counts dials to the backend that failed.
	FailedDials atomic.Uint64
	// Refused counts connections of the service refused because no
	// backend was available (on the service's own Counts).
	Refused atomic.Uint64
}

// AddBytes adds toBackend and toClient bytes (the data path adds to
// ToBackend and ToClient itself, as the bytes move).
func (c *Counts) AddBytes(toBackend, toClient int64) {
	if c == nil {
		return
	}
	if toBackend > 0 {
		c.ToBackend.Add(uint64(toBackend))
	}
	if toClient > 0 {
		c.ToClient.Add(uint64(toClient))
	}
}

// backendSeries is one backend's rings. Every ring of the store is aligned
// on the store's sample number: sample n is at n % Length.
type backendSeries struct {
	site     string
	since    uint64 // the first sample number this backend has
	seen     uint64 // the last sample number it was in
	live     [Length]int32
	opened   [Length]int32
	failed   [Length]int32
	toBack   [Length]int64
	toClient [Length]int64

	// the totals of the sample before, to make rates
	prevOpened, prevFailed, prevToBack, prevToClient uint64
	// the state of the sample before, to tell events
	healthy, ready, hasReady bool
}

// serviceSeries is one service's rings and its backends'.
type serviceSeries struct {
	since, seen  uint64
	live, opened [Length]int32
	refused      [Length]int32
	prevRefused  uint64
	backends     map[string]*backendSeries // by address
	primed       bool
}

// BackendBytes is the memory one backend's series take, in bytes (the
// rings; the map entry and the names come on top).
const BackendBytes = 3*Length*4 + 2*Length*8

// ServiceBytes is the memory one service's own series take, in bytes.
const ServiceBytes = 3 * Length * 4

// rate returns cur - prev, the growth of a running total, as the count of
// one sample. A total that went down (a count kept per config, which a
// reload restarts) counts from 0.
func rate(cur, prev uint64) uint64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}

// clamp32 returns v as an int32, saturated.
func clamp32(v uint64) int32 {
	if v > 1<<31-1 {
		return 1<<31 - 1
	}
	return int32(v)
}

// clamp64 returns v as an int64, saturated.
func clamp64(v uint64) int64 {
	if v > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(v)
}
