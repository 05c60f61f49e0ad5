package rttcost

import (
	"math/rand/v2"
	"testing"
	"time"
)

// fakeClock is a clock the test moves by hand.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestEstimator() (*Estimator, *fakeClock) {
	c := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	return New(c.now), c
}

// run feeds the estimator one sample every period for d, each from
// sample(t) where t is the time since the start of the run, and returns
// the changes it made with their times.
func run(e *Estimator, c *fakeClock, d, period time.Duration, sample func(t time.Duration) time.Duration) (changes []Change, at []time.Duration) {
	for t := time.Duration(0); t < d; t += period {
		if ch, ok := e.Add(sample(t)); ok {
			changes = append(changes, ch)
			at = append(at, t)
		}
		c.advance(period)
	}
	return changes, at
}

func TestUnmeasuredUntilFirstSample(t *testing.T) {
	e, _ := newTestEstimator()
	if got := e.Cost(); got != Unmeasured {
		t.Fatalf("cost before any sample = %d, want %d", got, Unmeasured)
	}
	if s := e.State(); s.Measured || s.RTT != 0 {
		t.Fatalf("state before any sample = %+v, want unmeasured", s)
	}
	ch, ok := e.Add(37 * time.Millisecond)
	if !ok || ch.Old != Unmeasured || ch.New != 37 {
		t.Fatalf("first sample 37ms: change %+v, %v; want %d -> 37", ch, ok, Unmeasured)
	}
	if s := e.State(); !s.Measured || s.Cost != 37 || s.Samples != 1 || s.Changes != 1 {
		t.Fatalf("state after first sample = %+v", s)
	}
}

func TestCostBounds(t *testing.T) {
	for _, tc := range []struct {
		rtt  time.Duration
		want int64
	}{
		{0, 1},
		{40 * time.Microsecond, 1},
		{1400 * time.Microsecond, 1},
		{1600 * time.Microsecond, 2},
		{250 * time.Millisecond, 250},
		{9998 * time.Millisecond, 9998},
		{30 * time.Second, 9998},
	} {
		e, _ := newTestEstimator()
		e.Add(tc.rtt)
		if got := e.Cost(); got != tc.want {
			t.Errorf("rtt %v: cost %d, want %d", tc.rtt, got, tc.want)
		}
	}
	e, _ := newTestEstimator()
	if _, ok := e.Add(-time.Millisecond); ok || e.State().Measured {
		t.Errorf("a negative sample was taken: %+v", e.State())
	}
}

func TestOneSlowSampleChangesNothing(t *testing.T) {
	e, c := newTestEstimator()
	steady := func(time.Duration) time.Duration { return 20 * time.Millisecond }
	run(e, c, 20*time.Second, 100*time.Millisecond, steady)
	if got := e.Cost(); got != 20 {
		t.Fatalf("steady 20ms: cost %d", got)
	}
	// one sample of 3 s among steady ones, then 20 s more
	slow := func(t time.Duration) time.Duration {
		if t == 0 {
			return 3 * time.Second
		}
		return 20 * time.Millisecond
	}
	changes, _ := run(e, c, 20*time.Second, 100*time.Millisecond, slow)
	if len(changes) != 0 || e.Cost() != 20 {
		t.Fatalf("one slow sample changed the cost: %+v, cost %d", changes, e.Cost())
	}
	if rtt := e.State().RTT; rtt < 19*time.Millisecond || rtt > 21*time.Millisecond {
		t.Fatalf("smoothed rtt %v after one slow sample, want about 20ms", rtt)
	}
}

// jitter returns samples uniformly within ±40% of base.
func jitter(rng *rand.Rand, base time.Duration) func(time.Duration) time.Duration {
	return func(time.Duration) time.Duration {
		f := 0.6 + 0.8*rng.Float64()
		return time.Duration(float64(base) * f)
	}
}

// TestJitterChangesCostRarely: ±40% jitter around a steady 50 ms changes
// the cost at most 3 times in 30 s, the first measurement included, at
// the rate of a busy link (10 samples a second) and of a link only the
// probe measures (1 a second).
func TestJitterChangesCostRarely(t *testing.T) {
	for _, period := range []time.Duration{100 * time.Millisecond, time.Second} {
		worst, worstLater := 0, 0
		for seed := uint64(1); seed <= 50; seed++ {
			e, c := newTestEstimator()
			rng := rand.New(rand.NewPCG(seed, 7))
			changes, _ := run(e, c, 30*time.Second, period, jitter(rng, 50*time.Millisecond))
			worst = max(worst, len(changes))
			later, _ := run(e, c, 30*time.Second, period, jitter(rng, 50*time.Millisecond))
			worstLater = max(worstLater, len(later))
			if len(later) > 3 {
				t.Errorf("period %v seed %d: %d changes in the second 30 s: %+v", period, seed, len(later), later)
			}
			if len(changes) > 3 {
				t.Errorf("period %v seed %d: %d changes in 30 s: %+v", period, seed, len(changes), changes)
			}
			if cost := e.Cost(); cost < 33 || cost > 67 { // 50 ±35%
				t.Errorf("period %v seed %d: cost %d after 30 s around 50 ms", period, seed, cost)
			}
		}
		t.Logf("sample every %v, ±40%% around 50ms, 50 runs: at most %d changes in the first 30 s (first measurement included), %d in the next 30 s", period, worst, worstLater)
	}
}

// TestStepReachesNewCost: after a step from 10 ms to 80 ms the cost is
// within ±35% of 80 within 30 s, and never changes twice within Hold.
func TestStepReachesNewCost(t *testing.T) {
	for _, period := range []time.Duration{100 * time.Millisecond, time.Second} {
		for _, jit := range []bool{false, true} {
			e, c := newTestEstimator()
			rng := rand.New(rand.NewPCG(3, 9))
			sample := func(base time.Duration) func(time.Duration) time.Duration {
				if jit {
					return jitter(rng, base)
				}
				return func(time.Duration) time.Duration { return base }
			}
			run(e, c, 30*time.Second, period, sample(10*time.Millisecond))
			if cost := e.Cost(); cost < 7 || cost > 13 {
				t.Fatalf("period %v jitter %v: cost %d at 10 ms", period, jit, cost)
			}
			changes, at := run(e, c, 30*time.Second, period, sample(80*time.Millisecond))
			reached, reachedCost := time.Duration(-1), int64(0)
			for i, ch := range changes {
				if ch.New >= 52 && ch.New <= 108 && reached < 0 {
					reached, reachedCost = at[i], ch.New
				}
				if i > 0 && at[i]-at[i-1] < Hold {
					t.Errorf("period %v jitter %v: changes %v apart", period, jit, at[i]-at[i-1])
				}
			}
			if reached < 0 {
				t.Fatalf("period %v jitter %v: cost %d 30 s after a step to 80 ms (changes %+v)", period, jit, e.Cost(), changes)
			}
			t.Logf("sample every %v, jitter %v: step 10->80 ms: cost %d (within 80±35%%) after %v; %d changes; cost %d at 30 s",
				period, jit, reachedCost, reached, len(changes), e.Cost())
		}
	}
}

func TestHysteresisBand(t *testing.T) {
	e, c := newTestEstimator()
	steady := func(d time.Duration) func(time.Duration) time.Duration {
		return func(time.Duration) time.Duration { return d }
	}
	run(e, c, 10*time.Second, 100*time.Millisecond, steady(100*time.Millisecond))
	// 108 ms is within 10% of 100: the cost stays
	if changes, _ := run(e, c, 60*time.Second, 100*time.Millisecond, steady(108*time.Millisecond)); len(changes) != 0 {
		t.Fatalf("108 ms against cost 100 changed it: %+v", changes)
	}
	// 115 ms is not
	changes, _ := run(e, c, 60*time.Second, 100*time.Millisecond, steady(115*time.Millisecond))
	if len(changes) == 0 || e.Cost() < 110 || e.Cost() > 115 {
		t.Fatalf("115 ms against cost 100: changes %+v, cost %d", changes, e.Cost())
	}
	// at cost 1, a round trip of 1.9 ms is within the absolute step of 1
	e2, c2 := newTestEstimator()
	run(e2, c2, 10*time.Second, 100*time.Millisecond, steady(100*time.Microsecond))
	if changes, _ := run(e2, c2, 60*time.Second, 100*time.Millisecond, steady(1900*time.Microsecond)); len(changes) != 0 || e2.Cost() != 1 {
		t.Fatalf("1.9 ms against cost 1 changed it: %+v", changes)
	}
}

func BenchmarkAdd(b *testing.B) {
	e, c := newTestEstimator()
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		c.advance(time.Millisecond)
		e.Add(time.Duration(40+i%20) * time.Millisecond)
	}
}
