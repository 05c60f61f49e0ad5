package costlb

// The cost of a pick: no allocation, and a benchmark of the whole
// bookkeeping of a connection.

import (
	"fmt"
	"sync/atomic"
	"testing"
)

func TestPickDoesNotAllocate(t *testing.T) {
	b, _ := newBalancer(t, []spec{{"east", 0, 0}, {"west", 5, 10}, {"north", 9999, 0}})
	var tk Ticket
	allocs := testing.AllocsPerRun(1000, func() {
		b.Pick(&tk)
		tk.Release()
	})
	if allocs != 0 {
		t.Fatalf("Pick allocates %v times per call", allocs)
	}
}

// BenchmarkBalancerPick measures a whole connection's bookkeeping (pick,
// count, release) from parallel goroutines. The capped variants give every
// backend a max_connections it never reaches, to price the reservation.
func BenchmarkBalancerPick(b *testing.B) {
	for _, c := range []struct {
		name string
		n    int
		max  int64
	}{{"n=2", 2, 0}, {"n=10", 10, 0}, {"n=100", 100, 0}, {"n=1000", 1000, 0}, {"capped/n=2", 2, 1 << 20}, {"capped/n=10", 10, 1 << 20}} {
		n := c.n
		b.Run(c.name, func(b *testing.B) {
			specs := make([]spec, n)
			for i := range specs {
				specs[i] = spec{fmt.Sprint("s", i%5), int64(i % 5 * 3), c.max}
			}
			bal, _ := newBalancer(b, specs)
			b.ReportAllocs()
			b.ResetTimer()
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

func TestPickWithGatewaysDoesNotAllocate(t *testing.T) {
	reg := NewRegistry()
	var onward atomic.Int64
	onward.Store(3)
	ready := func() bool { return true }
	b, err := New([]Backend{
		{Site: "B", Address: "gw", PathCost: 2, Counter: reg.Counter("gw"), Ready: ready, Onward: &onward},
		{Site: "E", Address: "e", PathCost: 9, Counter: reg.Counter("e")},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var tk Ticket
	allocs := testing.AllocsPerRun(1000, func() {
		b.Pick(&tk)
		tk.Release()
	})
	if allocs != 0 {
		t.Fatalf("Pick with a gateway allocates %v times per call", allocs)
	}
}
