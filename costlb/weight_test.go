package costlb

import (
	"fmt"
	"math/big"
	"math/rand/v2"
	"sync/atomic"
	"testing"
	"time"

	"github.com/costlb/costlb/costlb/costlbtest"
)

// weighted builds a balancer over backends of one site with the given
// path costs and weights, on counters of a fresh registry.
func weighted(t testing.TB, paths, weights []int64) (*Balancer, []*Counter) {
	t.Helper()
	reg := NewRegistry()
	bes := make([]Backend, len(weights))
	cs := make([]*Counter, len(weights))
	for i := range weights {
		cs[i] = reg.Counter(fmt.Sprintf("10.0.0.%d:80", i))
		bes[i] = Backend{Site: fmt.Sprint("s", paths[i]), Address: cs[i].Address(), PathCost: paths[i], Weight: weights[i], Counter: cs[i]}
	}
	b, err := New(bes, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b, cs
}

// hold picks n connections that all stay open and counts them per backend.
func hold(t testing.TB, b *Balancer, n int) []int {
	t.Helper()
	got := make([]int, b.Len())
	for range n {
		var tk Ticket
		i := b.Pick(&tk)
		if i < 0 {
			t.Fatal("no backend picked")
		}
		got[i]++
	}
	return got
}

// TestWeightsHeld: held connections split by weight, as the reference
// model places them; weights 1 and 3 of one site holding 100 hold 25 and
// 75, as the README says.
func TestWeightsHeld(t *testing.T) {
	for _, tc := range []struct {
		name           string
		paths, weights []int64
		n              int
		want           []int // hand-checked for the first; the model for all
	}{
		{"weights 1 and 3", []int64{0, 0}, []int64{1, 3}, 100, []int{25, 75}},
		{"weights 1 3 2", []int64{0, 0, 0}, []int64{1, 3, 2}, 60, []int{10, 30, 20}},
		{"weight against a remote site", []int64{0, 5}, []int64{1, 4}, 30, []int{10, 20}},
		{"default weight 0 is 1", []int64{0, 0}, []int64{0, 1}, 9, []int{5, 4}},
		{"weight 1000 and 1", []int64{0, 0}, []int64{1000, 1}, 2002, []int{2000, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bes := make([]costlbtest.Backend, len(tc.weights))
			for i := range bes {
				bes[i] = costlbtest.Backend{Key: fmt.Sprint(i), Path: tc.paths[i], Weight: tc.weights[i]}
			}
			if m := costlbtest.New(bes...).Place(map[string]int64{}, tc.n); fmt.Sprint(m) != fmt.Sprint(tc.want) {
				t.Fatalf("reference model gives %v, want %v", m, tc.want)
			}
			b, _ := weighted(t, tc.paths, tc.weights)
			if got := hold(t, b, tc.n); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("picks %v, want %v", got, tc.want)
			}
		})
	}
}

// TestWeightsMatchModelStepByStep: every single pick of a long run with
// mixed weights, paths and connections that end matches the model's.
func TestWeightsMatchModelStepByStep(t *testing.T) {
	paths, weights := []int64{0, 0, 3, 3, 7}, []int64{1, 3, 2, 7, 1000}
	b, cs := weighted(t, paths, weights)
	bes := make([]costlbtest.Backend, len(weights))
	for i := range bes {
		bes[i] = costlbtest.Backend{Key: cs[i].Address(), Path: paths[i], Weight: weights[i]}
	}
	m := costlbtest.New(bes...)
	live := map[string]int64{}
	var open []Ticket
	for k := 0; k < 3000; k++ {
		if k%3 == 2 && len(open) > 0 { // end the oldest connection
			j := k % len(open)
			live[open[j].Held().Address()]--
			open[j].Release()
			open = append(open[:j], open[j+1:]...)
		}
		want := m.Pick(live)
		var tk Ticket
		i := b.Pick(&tk)
		if got := cs[i].Address(); got != want {
			t.Fatalf("pick %d: balancer chose %s, model %s", k, got, want)
		}
		open = append(open, tk)
	}
}

// TestWeightExactAtLargeCounts: perceived costs that float64 cannot tell
// apart are compared exactly. 2^53 + 1/3 rounds to 2^53 in float64, which
// would tie and hand the pick to the backend listed first.
func TestWeightExactAtLargeCounts(t *testing.T) {
	const big = int64(1) << 53
	b, cs := weighted(t, []int64{0, 0}, []int64{3, 1})
	cs[0].live.Store(3*big + 1) // 2^53 + 1/3
	cs[1].live.Store(big)       // 2^53
	if i := b.Pick(nil); i != 1 {
		t.Fatalf("picked %d, want 1: 2^53 is below 2^53 + 1/3", i)
	}
	cs[0].live.Store(3 * big) // now equal: the tie goes to the backend listed first
	if i := b.Pick(nil); i != 0 {
		t.Fatalf("picked %d on a tie, want 0", i)
	}
	// fractions whose cross products need all of 60 bits
	b, cs = weighted(t, []int64{0, 0}, []int64{999, 1000})
	cs[0].live.Store(999*(1<<40) + 998)  // 2^40 + 998/999
	cs[1].live.Store(1000*(1<<40) + 999) // 2^40 + 999/1000: higher
	if i := b.Pick(nil); i != 0 {
		t.Fatalf("picked %d, want 0: 998/999 < 999/1000", i)
	}
	// counts at the top of int64 saturate without wrapping
	b, cs = weighted(t, []int64{0, MaxRouteCost}, []int64{1, 1000})
	cs[0].live.Store(1<<63 - 1)
	if i := b.Pick(nil); i != 1 {
		t.Fatalf("picked %d, want the idle far backend", i)
	}
}

func TestWeightRange(t *testing.T) {
	reg := NewRegistry()
	for _, w := range []int64{-1, MaxWeight + 1} {
		_, err := New([]Backend{{Site: "a", Address: "x", Weight: w, Counter: reg.Counter("x")}}, nil)
		if err == nil {
			t.Errorf("weight %d accepted", w)
		}
	}
}

// TestPickWeightedDoesNotAllocate: the weighted pick, with slow start on
// and a ramp running, does not allocate either.
func TestPickWeightedDoesNotAllocate(t *testing.T) {
	b, cs := weighted(t, []int64{0, 5, 9}, []int64{1, 3, 1000})
	var clock atomic.Int64
	clock.Store(1)
	b.SetSlowStart(10*time.Second, clock.Load)
	cs[1].ramp.since.Store(1)
	var tk Ticket
	allocs := testing.AllocsPerRun(1000, func() {
		b.Pick(&tk)
		tk.Release()
	})
	if allocs != 0 {
		t.Fatalf("weighted Pick allocates %v times per call", allocs)
	}
}

// TestRatioMatchesBigRat: the 128-bit comparison of perceived costs
// agrees with exact rational arithmetic over the whole range of path
// costs, live counts and effective weights, and State's rounded-down
// perceived cost is the rational's floor.
func TestRatioMatchesBigRat(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	draw := func() (int64, int64, uint64) {
		path := rng.Int64N(2*MaxRouteCost + 1)
		live := []int64{0, 1, rng.Int64N(1000), rng.Int64N(1 << 40), rng.Int64N(1<<63 - 1)}[rng.IntN(5)]
		w := []uint64{fullShare / 10, fullShare, MaxWeight * fullShare, 1 + rng.Uint64N(MaxWeight*fullShare)}[rng.IntN(4)]
		return path, live, w
	}
	exact := func(path, live int64, w uint64) *big.Rat {
		r := new(big.Rat).SetFrac(new(big.Int).Mul(big.NewInt(live), big.NewInt(fullShare)), new(big.Int).SetUint64(w))
		return r.Add(r, new(big.Rat).SetInt64(path))
	}
	for k := 0; k < 100000; k++ {
		pa, la, wa := draw()
		pb, lb, wb := draw()
		if k%7 == 0 { // equal costs written differently
			pb, lb, wb = pa, la*2, wa*2
			if wb > MaxWeight*fullShare || lb < 0 || lb > 1<<62 {
				pb, lb, wb = pa, la, wa
			}
		}
		want := exact(pa, la, wa).Cmp(exact(pb, lb, wb))
		if got := ratioOf(pa, la, wa).cmp(ratioOf(pb, lb, wb)); got != want {
			t.Fatalf("%d + %d/%d vs %d + %d/%d: cmp %d, exact %d", pa, la, wa, pb, lb, wb, got, want)
		}
		if la < 1<<40 {
			r := exact(pa, la, wa)
			floor := new(big.Int).Quo(r.Num(), r.Denom())
			if got := perceived(pa, la, wa); floor.Cmp(big.NewInt(got)) != 0 {
				t.Fatalf("perceived(%d, %d, %d) = %d, want %v", pa, la, wa, got, floor)
			}
		}
	}
}
