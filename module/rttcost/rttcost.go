// Package rttcost turns round-trip samples into a link cost: 1 cost per
// millisecond of round trip, at least 1, at most MaxCost. It is the filter
// behind `link <a> <b> auto` and needs no Caddy.
//
// The filter has three stages, each for one kind of noise:
//
//  1. the median of the last Window samples, so that one slow sample (a
//     retransmitted SYN, a paused process) moves nothing;
//  2. an exponentially weighted mean of those medians over time, with time
//     constant Tau: the weight of a sample grows with the time since the
//     previous one, so the smoothing is the same whether the link sees one
//     sample a second or a thousand;
//  3. hysteresis: the cost changes only when the smoothed round trip is
//     more than a tenth (and at least 1) away from it, has stayed so for
//     Persist, and at most once every Hold.
//
// Until its first sample an estimator's cost is Unmeasured; the first
// sample sets the cost at once, so that a link is not kept at its
// unmeasured cost for the time the filter takes to settle.
package rttcost

import (
	"math"
	"slices"
	"sync"
	"time"

	"github.com/costlb/costlb/linkgraph"
)

const (
	// MaxCost is the highest measured cost, so that a failover link of
	// cost 9999 stays dearer than any measured one: the cost the network
	// counts for an auto link before its first measurement.
	MaxCost = linkgraph.UnmeasuredCost
	// Unmeasured is the cost of a link before its first sample.
	Unmeasured = MaxCost
	// Window is how many recent samples the median is taken over.
	Window = 5
	// Tau is the time constant of the smoothing.
	Tau = 10 * time.Second
	// Hold is the shortest time between two changes of the cost.
	Hold = 5 * time.Second
	// Persist is how long the smoothed round trip must stay out of the
	// band before the cost follows it: a crossing that noise makes is
	// brief, a change of the network is not.
	Persist = 5 * time.Second
	// Band is the relative distance from the cost the smoothed round trip
	// must pass before the cost changes; MinStep the absolute one.
	Band    = 0.10
	MinStep = 1.0
	// firstWeight is the weight the first sample gets, as if it had come
	// one second after an earlier one: later samples soon outweigh it.
	firstWeight = time.Second
)

// Change is a change of an estimator's cost.
type Change struct {
	Old, New int64
	// RTT is the smoothed round trip that made the change.
	RTT time.Duration
}

// State is what an estimator knows, for display.
type State struct {
	// Cost is the current cost: Unmeasured before the first sample.
	Cost int64
	// Measured tells whether a sample has come.
	Measured bool
	// RTT is the smoothed round trip (0 before the first sample).
	RTT time.Duration
	// Samples counts the samples taken, LastSample is when the last came.
	Samples    uint64
	LastSample time.Time
	// Changes counts the changes of the cost, the first one included.
	Changes uint64
}

// Estimator turns round-trip samples of one link into its cost. It is safe
// for concurrent use.
type Estimator struct {
	now func() time.Time

	mu       sync.Mutex
	recent   [Window]time.Duration // ring of the last samples
	n, next  int                   // samples in recent; where the next goes
	sum, wts float64               // decayed weighted sum of medians (ms) and of weights
	smoothed float64               // sum / wts, in ms
	state    State
	changed  time.Time // when the cost last changed
	outside  time.Time // since when the smoothed round trip is out of the band; zero: it is in
}

// New returns an estimator whose clock is now (time.Now if nil).
func New(now func() time.Time) *Estimator {
	if now == nil {
		now = time.Now
	}
	return &Estimator{now: now, state: State{Cost: Unmeasured}}
}

// Add takes one round-trip sample and returns the change of the cost it
// made, if it made one. A negative sample is ignored.
func (e *Estimator) Add(rtt time.Duration) (Change, bool) {
	if rtt < 0 {
		return Change{}, false
	}
	now := e.now()
	e.mu.Lock()
	defer e.mu.Unlock()
	e.recent[e.next] = rtt
	e.next = (e.next + 1) % Window
	e.n = min(e.n+1, Window)
	med := e.median()

	gap := firstWeight
	if e.state.Measured {
		gap = max(now.Sub(e.state.LastSample), 0)
	}
	decay := math.Exp(-float64(gap) / float64(Tau))
	e.sum = e.sum*decay + (1-decay)*ms(med)
	e.wts = e.wts*decay + (1 - decay)
	if e.wts > 0 {
		e.smoothed = e.sum / e.wts
	} else { // samples at the same instant as the first: nothing decays yet
		e.smoothed = ms(med)
	}
	first := !e.state.Measured
	e.state.Measured = true
	e.state.Samples++
	e.state.LastSample = now
	e.state.RTT = time.Duration(e.smoothed * float64(time.Millisecond))

	target := clampCost(e.smoothed)
	old := e.state.Cost
	if !first {
		if now.Sub(e.changed) < Hold {
			return Change{}, false
		}
		if math.Abs(target-float64(old)) <= max(Band*float64(old), MinStep) {
			e.outside = time.Time{}
			return Change{}, false
		}
		if e.outside.IsZero() {
			e.outside = now
		}
		if now.Sub(e.outside) < Persist || now.Sub(e.changed) < Hold {
			return Change{}, false
		}
	}
	c := int64(math.Round(target))
	if c == old {
		return Change{}, false
	}
	e.state.Cost = c
	e.state.Changes++
	e.changed, e.outside = now, time.Time{}
	return Change{Old: old, New: c, RTT: e.state.RTT}, true
}

// Cost returns the current cost.
func (e *Estimator) Cost() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state.Cost
}

// State returns what the estimator knows.
func (e *Estimator) State() State {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.state
}

// median returns the median of the recent samples: of an even number, the
// lower middle one, so that with two samples a slow one is not taken.
func (e *Estimator) median() time.Duration {
	var buf [Window]time.Duration
	s := buf[:e.n]
	copy(s, e.recent[:e.n])
	slices.Sort(s)
	return s[(e.n-1)/2]
}

// CostOf returns the cost of a round trip of rtt milliseconds: rounded,
// at least 1, at most MaxCost.
func CostOf(rttMs float64) int64 { return int64(math.Round(clampCost(rttMs))) }

func clampCost(v float64) float64 {
	if math.IsNaN(v) {
		return MaxCost
	}
	return min(max(v, 1), MaxCost)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
