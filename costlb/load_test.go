package costlb

import (
	"fmt"
	"sync/atomic"
	"testing"
)

// loadBackends returns backends whose live counts come from Load funcs over
// the returned counts, as an HTTP proxy's in-flight requests do.
func loadBackends(specs []spec) ([]Backend, []*atomic.Int64) {
	counts := make([]*atomic.Int64, len(specs))
	bes := make([]Backend, len(specs))
	for i, s := range specs {
		c := new(atomic.Int64)
		counts[i] = c
		bes[i] = Backend{Site: s.site, Address: fmt.Sprintf("10.0.1.%d:80", i), PathCost: s.path, MaxConns: s.max, Load: c.Load}
	}
	return bes, counts
}

// TestLoadDistributionHeld: a balancer over Load backends places held
// requests by the same rules as one over Counters, the caller counting
// each request itself (Pick counts nothing on a Load backend).
func TestLoadDistributionHeld(t *testing.T) {
	cases := []struct {
		name  string
		specs []spec
		n     int
	}{
		{"local and remote cost 5", []spec{{"east", 0, 0}, {"west", 5, 0}}, 20},
		{"three-site mesh", []spec{{"east", 0, 0}, {"west", 3, 0}, {"north", 4, 0}}, 30},
		{"two local equal", []spec{{"east", 0, 0}, {"east", 0, 0}}, 9},
		{"capped local spills", []spec{{"east", 0, 2}, {"west", 5, 0}}, 6},
		{"failover backup gets none", []spec{{"east", 0, 0}, {"dr", 9999, 0}}, 500},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			bes, counts := loadBackends(tc.specs)
			b, err := New(bes, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := make([]int, len(tc.specs))
			for k := 0; k < tc.n; k++ {
				var tk Ticket
				i := b.Pick(&tk)
				if i < 0 {
					t.Fatalf("request %d refused", k)
				}
				if tk.Held() != nil {
					t.Fatalf("Pick held a ticket on a Load backend")
				}
				got[i]++
				counts[i].Add(1) // the proxy counts the request as it starts
			}
			if want := modelHeld(tc.specs, tc.n); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("picks %v, the rules imply %v", got, want)
			}
			for i := range got {
				if st := b.State(i); st.Live != int64(got[i]) || st.Perceived != st.PathCost+st.Live {
					t.Errorf("backend %d state %+v, want live %d", i, st, got[i])
				}
			}
		})
	}
}

// TestLoadCapAndRelease: a Load backend at MaxConns is unavailable until
// its load drops, and State reports it so.
func TestLoadCapAndRelease(t *testing.T) {
	bes, counts := loadBackends([]spec{{"east", 0, 1}})
	b, err := New(bes, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b.Pick(nil) != 0 {
		t.Fatal("first request refused")
	}
	counts[0].Add(1)
	if i := b.Pick(nil); i != -1 {
		t.Fatalf("picked %d over the cap", i)
	}
	if b.State(0).Available {
		t.Fatal("State says available at the cap")
	}
	counts[0].Add(-1)
	if b.Pick(nil) != 0 || !b.State(0).Available {
		t.Fatal("not available again once the load dropped")
	}
}

func TestNewNeedsCounterOrLoad(t *testing.T) {
	if _, err := New([]Backend{{Site: "east", Address: "a"}}, nil); err == nil {
		t.Fatal("a backend with neither Counter nor Load was accepted")
	}
}

func TestLoadPickDoesNotAllocate(t *testing.T) {
	bes, _ := loadBackends([]spec{{"east", 0, 0}, {"west", 5, 10}, {"north", 9999, 0}})
	b, err := New(bes, nil)
	if err != nil {
		t.Fatal(err)
	}
	if allocs := testing.AllocsPerRun(1000, func() { b.Pick(nil) }); allocs != 0 {
		t.Fatalf("Pick over Load backends allocates %v times per call", allocs)
	}
}
