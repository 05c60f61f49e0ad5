package costlbtest

import (
	"fmt"
	"math/rand/v2"
	"sort"
	"testing"
)

// slotCounts is a second, closed-form statement of the rule for connections
// that all stay open from a fresh start: the k-th connection takes the k-th
// cheapest "slot", backend i's j-th connection (j from 0) being a slot of
// perceived cost Path_i + j; ties go to the lower path cost, then to the
// backend listed first (equal backends fill in turn). A capped backend has
// only Max slots.
func slotCounts(bes []Backend, n int) []int {
	type slot struct {
		cost, path int64
		idx        int
	}
	var slots []slot
	for i, b := range bes {
		for j := int64(0); j < int64(n) && (b.Max == 0 || j < b.Max); j++ {
			slots = append(slots, slot{b.Path + j, b.Path, i})
		}
	}
	sort.Slice(slots, func(a, b int) bool {
		x, y := slots[a], slots[b]
		if x.cost != y.cost {
			return x.cost < y.cost
		}
		if x.path != y.path {
			return x.path < y.path
		}
		return x.idx < y.idx
	})
	counts := make([]int, len(bes))
	for k := 0; k < n && k < len(slots); k++ {
		counts[slots[k].idx]++
	}
	return counts
}

// TestPlaceMatchesSlots: from a fresh start, the step-by-step model and the
// closed-form slot order agree on random topologies with caps.
func TestPlaceMatchesSlots(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 500; round++ {
		bes := make([]Backend, 1+r.IntN(6))
		for i := range bes {
			bes[i] = Backend{Key: fmt.Sprint(i), Path: int64(r.IntN(12)), Max: int64(r.IntN(4))}
		}
		n := r.IntN(60)
		got := New(bes...).Place(map[string]int64{}, n)
		if want := slotCounts(bes, n); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("round %d: %v, %d connections: model %v, slots %v", round, bes, n, got, want)
		}
	}
}

// TestPickRotatesAndRefuses: short connections (each closed before the
// next) rotate over equal backends and never reach a costlier one; a full
// backend is passed over and, with every backend full, the pick refuses.
func TestPickRotatesAndRefuses(t *testing.T) {
	m := New(Backend{Key: "a"}, Backend{Key: "b"}, Backend{Key: "c"}, Backend{Key: "far", Path: 1})
	live := map[string]int64{}
	var seq []string
	for range 7 {
		k := m.Pick(live)
		seq = append(seq, k)
		live[k]--
	}
	if fmt.Sprint(seq) != "[a b c a b c a]" {
		t.Errorf("short connections went %v, want a b c in turn", seq)
	}

	m = New(Backend{Key: "x", Path: 0, Max: 1}, Backend{Key: "y", Path: 3, Max: 2})
	live = map[string]int64{}
	seq = nil
	for range 4 {
		seq = append(seq, m.Pick(live))
	}
	if fmt.Sprint(seq) != "[x y y ]" || live["x"] != 1 || live["y"] != 2 {
		t.Errorf("capped picks %q, live %v; want x, y, y, then refused", seq, live)
	}
}

// TestModelsShareLiveCounts: a new model (a reload) over the same live
// counts sees the connections the old one placed.
func TestModelsShareLiveCounts(t *testing.T) {
	live := map[string]int64{}
	old := New(Backend{Key: "e", Path: 0, Max: 0}, Backend{Key: "w", Path: 5, Max: 0})
	if got := old.Place(live, 4); fmt.Sprint(got) != "[4 0]" {
		t.Fatalf("4 connections at link cost 5: %v, want all on e", got)
	}
	// the link cost drops to 1: e is at 4, so w (1+0..) takes the next ones
	// until their perceived costs meet, ties going to e (path 0)
	if got := New(Backend{Key: "e", Path: 0, Max: 0}, Backend{Key: "w", Path: 1, Max: 0}).Place(live, 4); fmt.Sprint(got) != "[1 3]" {
		t.Errorf("4 more after the reload: %v, want [1 3] (w at 1, 2, 3, then e at 4 wins the tie with w at 4)", got)
	}
}
