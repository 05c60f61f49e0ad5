package costlb

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// TestLivePathCost: a backend's Path is read on every pick, so a new path
// cost applies to the next pick, shows in State and moves the primary
// site, without allocating.
func TestLivePathCost(t *testing.T) {
	var westCost atomic.Int64
	westCost.Store(9998) // an auto link before its first measurement
	reg := NewRegistry()
	east, west := reg.Counter("e:1"), reg.Counter("w:1")
	var shifts []Shift
	b, err := New([]Backend{
		{Site: "east", Address: "e:1", PathCost: 20, Counter: east},
		{Site: "west", Address: "w:1", PathCost: 9998, Path: &westCost, Counter: west},
	}, func(s Shift) { shifts = append(shifts, s) })
	if err != nil {
		t.Fatal(err)
	}
	if i := b.Pick(nil); i != 0 {
		t.Fatalf("pick %d at west cost 9998, want east (0)", i)
	}
	westCost.Store(1)
	if i := b.Pick(nil); i != 1 {
		t.Fatalf("pick %d at west cost 1, want west (1)", i)
	}
	if st := b.State(1); st.PathCost != 1 || st.TotalCost != 1 || st.Perceived != 1 {
		t.Fatalf("west state %+v, want path, total and perceived cost 1", st)
	}
	if b.Primary() != "west" || len(shifts) != 2 || shifts[1].From != "east" || shifts[1].To != "west" || !shifts[1].FromHealthy {
		t.Fatalf("primary %q, shifts %+v; want a failback-like shift east -> west", b.Primary(), shifts)
	}
	var tk Ticket
	if allocs := testing.AllocsPerRun(1000, func() { b.Pick(&tk); tk.Release() }); allocs != 0 {
		t.Fatalf("a pick with a live path cost allocates %v times", allocs)
	}
}

// BenchmarkPickLivePath is BenchmarkBalancerPick/n=10 with every
// backend's path cost read from a live cell (an auto link's network).
func BenchmarkPickLivePath(b *testing.B) {
	for _, live := range []bool{false, true} {
		b.Run(fmt.Sprintf("live=%v", live), func(b *testing.B) {
			reg := NewRegistry()
			cells := make([]atomic.Int64, 5)
			var bes []Backend
			for i := range 10 {
				c := reg.Counter(fmt.Sprintf("10.0.0.%d:80", i))
				be := Backend{Site: fmt.Sprint("s", i%5), Address: c.Address(), PathCost: int64(i % 5 * 3), Counter: c}
				if live {
					cells[i%5].Store(be.PathCost)
					be.Path = &cells[i%5]
				}
				bes = append(bes, be)
			}
			bal, err := New(bes, nil)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				var tk Ticket
				for pb.Next() {
					bal.Pick(&tk)
					tk.Release()
				}
			})
		})
	}
}
