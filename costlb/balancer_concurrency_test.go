package costlb

// Concurrent picks: counts stay exact and caps hold while goroutines pick,
// retry and release at once.

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestConcurrentExact runs 8 goroutines that pick, retry and release for a
// bounded time while health flips, then checks every count is back to 0 and
// no release left one negative.
func TestConcurrentExact(t *testing.T) {
	reg := NewRegistry()
	var up [4]atomic.Bool
	var bes []Backend
	for i := range up {
		up[i].Store(true)
		bes = append(bes, Backend{Site: fmt.Sprint("s", i%2), Address: fmt.Sprint(i), PathCost: int64(i),
			MaxConns: int64(i % 3), Counter: reg.Counter(fmt.Sprint(i)), Healthy: up[i].Load})
	}
	b, err := New(bes, func(Shift) {})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(300 * time.Millisecond)
	var wg sync.WaitGroup
	var picks, negative atomic.Int64
	// release gives a count back and checks its counter did not go below 0
	release := func(tk *Ticket) {
		if c := tk.Held(); c != nil {
			tk.Release()
			if c.Live() < 0 {
				negative.Add(1)
			}
		}
	}
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(seed uint64) {
			defer wg.Done()
			r := rand.New(rand.NewPCG(seed, 7))
			var held []Ticket
			for time.Now().Before(deadline) {
				switch r.IntN(4) {
				case 0, 1:
					var tk Ticket
					if b.Pick(&tk) >= 0 {
						picks.Add(1)
					}
					held = append(held, tk)
				case 2:
					if len(held) > 0 { // a retry: release, pick again
						k := r.IntN(len(held))
						release(&held[k])
						b.Pick(&held[k])
					}
				case 3:
					if len(held) > 0 {
						k := r.IntN(len(held))
						release(&held[k])
						held = append(held[:k], held[k+1:]...)
					}
				}
				up[r.IntN(4)].Store(r.IntN(3) > 0)
			}
			for k := range held {
				release(&held[k])
			}
		}(uint64(g))
	}
	wg.Wait()
	if picks.Load() == 0 {
		t.Fatal("no picks happened")
	}
	if negative.Load() != 0 {
		t.Errorf("%d releases left a negative count", negative.Load())
	}
	for _, c := range reg.Counters() {
		if c.Live() != 0 {
			t.Errorf("%s: live %d after all releases", c.Address(), c.Live())
		}
	}
}

// TestMaxConnsHoldsUnderConcurrentPicks: picks racing on at least two
// threads never count more connections on a backend than its
// max_connections. Each goroutine, while it holds a place, reads the
// backend's count (its own connection included); no read may exceed the
// limit. The picks go in rounds: every goroutine holds its place until all
// have picked, so each round has 8 connections open at once over 4 capped
// places, whatever the scheduler does. With an uncapped backend behind the
// capped ones, no pick is refused and at least 4 a round take it; with
// every backend capped, at least 4 a round are refused.
func TestMaxConnsHoldsUnderConcurrentPicks(t *testing.T) {
	prev := runtime.GOMAXPROCS(max(2, runtime.GOMAXPROCS(0)))
	defer runtime.GOMAXPROCS(prev)
	t.Run("spill to uncapped", func(t *testing.T) {
		specs := []spec{{"east", 0, 1}, {"east", 0, 2}, {"west", 3, 1}, {"north", 6, 0}}
		picks, refused := hammerCaps(t, specs)
		if want := overflow(specs); refused != 0 || picks[3] < want {
			t.Errorf("%d picks refused, %d reached the uncapped backend; want 0 refused and the overflow (at least %d) on it", refused, picks[3], want)
		}
	})
	t.Run("all capped", func(t *testing.T) {
		specs := []spec{{"east", 0, 1}, {"east", 0, 1}, {"west", 2, 2}}
		picks, refused := hammerCaps(t, specs)
		if want := overflow(specs); refused < want {
			t.Errorf("%d picks refused with %d goroutines over 4 places for %d rounds (picks %v); want at least %d", refused, capGoroutines, capRounds, picks, want)
		}
	})
}

// capGoroutines goroutines pick capRounds times each in hammerCaps.
const capGoroutines, capRounds = 8, 1000

// overflow returns how many picks of hammerCaps find every capped place
// of specs taken, at least: in each round, the goroutines beyond the sum
// of the limits.
func overflow(specs []spec) int64 {
	var places int64
	for _, s := range specs {
		places += s.max
	}
	return capRounds * (capGoroutines - places)
}

// hammerCaps runs capGoroutines goroutines that each pick, hold and
// release 3 times a round for capRounds rounds over backends specs. In
// each round every goroutine picks and releases twice, then picks (racing
// the others' picks and releases) and holds its place until all have
// picked, reads the count again and releases. It
// checks no count read by a holder exceeded its backend's limit, that the
// capped backends' counts reached their limits, and every count ends at 0,
// and returns the picks per backend and the picks refused.
func hammerCaps(t *testing.T, specs []spec) (picks []int64, refused int64) {
	t.Helper()
	b, cs := newBalancer(t, specs)
	peak := make([]atomic.Int64, len(specs)) // highest count a holder read
	counts := make([]atomic.Int64, len(specs))
	var nRefused atomic.Int64
	var wg sync.WaitGroup
	all := newBarrier(capGoroutines)
	for g := range capGoroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var tk Ticket
			// pick counts a pick, reads the count it holds and returns the
			// backend, or -1
			pick := func() int {
				i := b.Pick(&tk)
				if i < 0 {
					nRefused.Add(1)
					return i
				}
				counts[i].Add(1)
				raise(&peak[i], cs[i].Live())
				return i
			}
			for k := range capRounds {
				for range 2 { // picks and releases free of the rounds
					if pick() >= 0 {
						tk.Release()
					}
				}
				i := pick()
				if (g+k)%3 == 0 {
					runtime.Gosched() // let the others pick before the wait
				}
				all.wait() // every goroutine has picked: this round's places are all held
				if i >= 0 {
					raise(&peak[i], cs[i].Live())
					tk.Release()
				}
			}
		}()
	}
	wg.Wait()
	peaks := make([]int64, len(specs))
	for i, s := range specs {
		picks = append(picks, counts[i].Load())
		peaks[i] = peak[i].Load()
		if s.max > 0 && peaks[i] != s.max {
			t.Errorf("backend %d: the highest live count a holder read is %d; max_connections %d", i, peaks[i], s.max)
		}
		if cs[i].Live() != 0 {
			t.Errorf("backend %d: live %d after every release", i, cs[i].Live())
		}
	}
	t.Logf("picks %v, refused %d, peaks read %v", picks, nRefused.Load(), peaks)
	return picks, nRefused.Load()
}

// barrier lets n goroutines wait for each other, again and again: wait
// returns once all n have called it since the last time it returned.
type barrier struct {
	mu     sync.Mutex
	cond   sync.Cond
	n, in  int
	rounds int
}

func newBarrier(n int) *barrier {
	b := &barrier{n: n}
	b.cond.L = &b.mu
	return b
}

func (b *barrier) wait() {
	b.mu.Lock()
	defer b.mu.Unlock()
	round := b.rounds
	if b.in++; b.in == b.n {
		b.in, b.rounds = 0, b.rounds+1
		b.cond.Broadcast()
		return
	}
	for round == b.rounds {
		b.cond.Wait()
	}
}

// raise sets p to n if n is higher.
func raise(p *atomic.Int64, n int64) {
	for {
		old := p.Load()
		if n <= old || p.CompareAndSwap(old, n) {
			return
		}
	}
}

// TestPickPassesOverLostRace: when another pick takes a capped backend's
// last place between this pick's scan and its reservation, this pick does
// not count over the limit: it chooses again without that backend (even
// though the place is free again by then), and all that without allocating.
// The health probes, which a pick calls in config order before reading each
// count, stage the race.
func TestPickPassesOverLostRace(t *testing.T) {
	reg := NewRegistry()
	a := reg.Counter("a")
	// the rival is another service over the same address, limit 1
	rival, err := New([]Backend{{Site: "east", Address: "a", MaxConns: 1, Counter: a}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var rivalTk Ticket
	stage := 0
	b, err := New([]Backend{
		{Site: "east", Address: "a", MaxConns: 1, Counter: a, Healthy: func() bool {
			if stage == 2 { // the second scan: the rival gives the place back
				rivalTk.Release()
				stage = 3
			}
			return true
		}},
		{Site: "west", Address: "b", PathCost: 5, Counter: reg.Counter("b"), Healthy: func() bool {
			if stage == 1 { // the first scan, a's count read: the rival takes it
				rival.Pick(&rivalTk)
				stage = 2
			}
			return true
		}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var tk Ticket
	runs := 0
	allocs := testing.AllocsPerRun(100, func() {
		runs++
		stage = 1
		i := b.Pick(&tk)
		if i != 1 || stage != 3 || a.Live() != 0 || reg.Counter("b").Live() != 1 || tk.Held() != reg.Counter("b") {
			t.Fatalf("pick %d (stage %d): live a %d, b %d; want west, a given back and passed over", i, stage, a.Live(), reg.Counter("b").Live())
		}
		tk.Release()
	})
	if allocs != 0 {
		t.Errorf("a pick that lost a race allocates %v times", allocs)
	}
	if p0, p1 := b.State(0).Picks, b.State(1).Picks; p0 != 0 || p1 != uint64(runs) {
		t.Errorf("picks counted: a %d, b %d; want 0 (a lost reservation is no pick) and %d", p0, p1, runs)
	}
}
