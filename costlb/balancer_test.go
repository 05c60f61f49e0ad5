package costlb

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/costlb/costlb/costlb/costlbtest"
)

// spec describes a backend for a test: its path cost and optional cap.
type spec struct {
	site string
	path int64
	max  int64
}

func newBalancer(t testing.TB, specs []spec) (*Balancer, []*Counter) {
	t.Helper()
	reg := NewRegistry()
	var bes []Backend
	var cs []*Counter
	for i, s := range specs {
		c := reg.Counter(fmt.Sprintf("10.0.0.%d:80", i))
		cs = append(cs, c)
		bes = append(bes, Backend{Site: s.site, Address: c.Address(), PathCost: s.path, MaxConns: s.max, Counter: c})
	}
	b, err := New(bes, nil)
	if err != nil {
		t.Fatal(err)
	}
	return b, cs
}

// modelHeld places n connections that all stay open by the reference model
// of the pick rule, over backends like newBalancer's.
func modelHeld(specs []spec, n int) []int {
	bes := make([]costlbtest.Backend, len(specs))
	for i, s := range specs {
		bes[i] = costlbtest.Backend{Key: fmt.Sprint(i), Path: s.path, Max: s.max}
	}
	return costlbtest.New(bes...).Place(map[string]int64{}, n)
}

func TestDistributionHeld(t *testing.T) {
	cases := []struct {
		name  string
		specs []spec
		n     int
		want  []int // hand-checked against the rules, and cross-checked with the reference model
	}{
		{"local and remote cost 5", []spec{{"east", 0, 0}, {"west", 5, 0}}, 20, []int{13, 7}},
		{"failover backup 9999 gets none", []spec{{"east", 0, 0}, {"backup", 9999, 0}}, 1000, []int{1000, 0}},
		{"backup only once primary is 9999 busier", []spec{{"east", 0, 0}, {"backup", 9999, 0}}, 10001, []int{10000, 1}},
		{"two local equal", []spec{{"east", 0, 0}, {"east", 0, 0}}, 9, []int{5, 4}},
		// three-site mesh: east local, west 3 direct, north 4 via west (3+1)
		{"three-site mesh", []spec{{"east", 0, 0}, {"west", 3, 0}, {"north", 4, 0}}, 30, []int{13, 9, 8}},
		{"capped local spills", []spec{{"east", 0, 2}, {"west", 5, 0}}, 6, []int{2, 4}},
		{"all capped", []spec{{"east", 0, 1}, {"west", 1, 1}}, 5, []int{1, 1}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := modelHeld(tc.specs, tc.n); fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("reference model gives %v, hand count %v", got, tc.want)
			}
			b, cs := newBalancer(t, tc.specs)
			got := make([]int, len(tc.specs))
			refused := 0
			for k := 0; k < tc.n; k++ {
				var tk Ticket // held open: never released
				i := b.Pick(&tk)
				if i < 0 {
					refused++
					continue
				}
				got[i]++
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Fatalf("picks %v, want %v", got, tc.want)
			}
			total := 0
			for i, c := range cs {
				if c.Live() != int64(got[i]) {
					t.Errorf("backend %d live %d, want %d", i, c.Live(), got[i])
				}
				total += got[i]
			}
			if total+refused != tc.n {
				t.Fatalf("picks %d + refused %d != %d", total, refused, tc.n)
			}
		})
	}
}

func TestDistributionHeldRandomTopologies(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 200; round++ {
		n := 1 + r.IntN(6)
		specs := make([]spec, n)
		for i := range specs {
			specs[i] = spec{fmt.Sprintf("s%d", r.IntN(3)), int64(r.IntN(12)), int64(r.IntN(4))}
		}
		conns := r.IntN(60)
		b, _ := newBalancer(t, specs)
		got := make([]int, n)
		for k := 0; k < conns; k++ {
			var tk Ticket
			if i := b.Pick(&tk); i >= 0 {
				got[i]++
			}
		}
		want := modelHeld(specs, conns)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("round %d specs %v conns %d: got %v want %v", round, specs, conns, got, want)
		}
	}
}

func TestRotationSharesEvenly(t *testing.T) {
	b, cs := newBalancer(t, []spec{{"east", 0, 0}, {"east", 0, 0}, {"east", 0, 0}, {"west", 1, 0}})
	got := make([]int, 4)
	var prev = -1
	for k := 0; k < 300; k++ {
		var tk Ticket
		i := b.Pick(&tk)
		if i == prev {
			t.Fatalf("pick %d repeated backend %d while equals were idle", k, i)
		}
		prev = i
		got[i]++
		tk.Release()
	}
	if got[0] != 100 || got[1] != 100 || got[2] != 100 || got[3] != 0 {
		t.Fatalf("short connections over three equal local backends: %v, want 100/100/100/0", got)
	}
	for _, c := range cs {
		if c.Live() != 0 {
			t.Fatalf("%s live %d after release", c.Address(), c.Live())
		}
	}
}

func TestReloadSharesCounters(t *testing.T) {
	reg := NewRegistry()
	mk := func() *Balancer {
		b, err := New([]Backend{
			{Site: "east", Address: "a", Counter: reg.Counter("a")},
			{Site: "west", Address: "b", PathCost: 2, Counter: reg.Counter("b")},
		}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	old := mk()
	held := make([]Ticket, 3)
	for i := range held {
		old.Pick(&held[i]) // a gets 3 (0,1,2 vs 2: a wins ties by path)
	}
	nb := mk() // the reload
	var tk Ticket
	if i := nb.Pick(&tk); i != 1 {
		t.Fatalf("new config ignored held counts: picked %d, want b", i)
	}
	for i := range held {
		held[i].Release()
	}
	tk.Release()
	if reg.Counter("a").Live() != 0 || reg.Counter("b").Live() != 0 {
		t.Fatal("counts not zero after release")
	}
}

func TestNewErrors(t *testing.T) {
	c := NewRegistry().Counter("x")
	for _, tc := range []struct {
		bes  []Backend
		want string
	}{
		{nil, "no backends"},
		{[]Backend{{Address: "x"}}, "want exactly one of a counter and a load"},
		{[]Backend{{Address: "x", Counter: c, Load: c.Live}}, "want exactly one of a counter and a load"},
		{[]Backend{{Address: "x", Counter: c, PathCost: -1}}, "path cost -1: must be 0 to"},
		{[]Backend{{Address: "x", Counter: c, MaxConns: -3}}, "negative max connections -3"},
	} {
		_, err := New(tc.bes, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%v) = %v, want error containing %q", tc.bes, err, tc.want)
		}
	}
}
