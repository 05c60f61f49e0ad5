package costlb

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

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

func TestUnavailableAndRetry(t *testing.T) {
	reg := NewRegistry()
	var up [3]atomic.Bool
	for i := range up {
		up[i].Store(true)
	}
	mk := func(i int, site string, path int64) Backend {
		return Backend{Site: site, Address: fmt.Sprint(i), PathCost: path,
			Counter: reg.Counter(fmt.Sprint(i)), Healthy: up[i].Load}
	}
	var shifts []Shift
	b, err := New([]Backend{mk(0, "east", 0), mk(1, "west", 5), mk(2, "backup", 9999)},
		func(s Shift) { shifts = append(shifts, s) })
	if err != nil {
		t.Fatal(err)
	}
	// a retry releases the failed try's count, then picks again (as the
	// module's selector does)
	var tk Ticket
	retry := func(want int, what string) {
		t.Helper()
		tk.Release()
		if i := b.Pick(&tk); i != want {
			t.Fatalf("%s: pick %d, want %d", what, i, want)
		}
		var wantHeld *Counter
		if want >= 0 {
			wantHeld = b.Backend(want).Counter
		}
		for _, c := range reg.Counters() {
			if n := c.Live(); (c == wantHeld) != (n == 1) || n < 0 || n > 1 {
				t.Fatalf("%s: %s live %d; want the one connection counted once, on %d", what, c.Address(), n, want)
			}
		}
		if tk.Held() != wantHeld {
			t.Fatalf("%s: ticket holds %v, want %v", what, tk.Held(), wantHeld)
		}
	}
	retry(0, "first pick: local east")
	// the dial to east fails and east is marked down: the retry goes west
	up[0].Store(false)
	retry(1, "retry with east down: west")
	retry(1, "a retry that re-selects west")
	up[1].Store(false)
	retry(2, "west down too: backup")
	up[2].Store(false)
	retry(-1, "nothing healthy")
	up[0].Store(true)
	retry(0, "failback to east")
	tk.Release()
	tk.Release() // a second release must not go negative
	if c := reg.Counter("0"); c.Live() != 0 || tk.Held() != nil {
		t.Fatalf("double release: live %d, held %v", c.Live(), tk.Held())
	}
	want := "[{ east 0 0 false true} {east west 0 5 false false} {west backup 5 9999 false false} {backup  9999 0 false false} { east 0 0 false false}]"
	if fmt.Sprint(shifts) != want {
		t.Fatalf("shifts %v, want %v", shifts, want)
	}
	if shifts[0].Failover() || !shifts[1].Failover() || !shifts[3].Failover() || shifts[4].Failover() {
		t.Fatalf("failover flags wrong: %v", shifts)
	}
}

// TestRetryRetakesCappedPlace: a connection whose try failed on a capped
// backend, holding its only place, gives the place back before it retries,
// so the retry can take it again; a second connection finds the backend
// full.
func TestRetryRetakesCappedPlace(t *testing.T) {
	b, cs := newBalancer(t, []spec{{"east", 0, 1}, {"west", 5, 0}})
	var tk Ticket
	if i := b.Pick(&tk); i != 0 {
		t.Fatalf("pick %d", i)
	}
	tk.Release() // the dial failed
	if i := b.Pick(&tk); i != 0 {
		t.Fatalf("retry %d, want east again: its own place is free", i)
	}
	var other Ticket
	if i := b.Pick(&other); i != 1 {
		t.Fatalf("second connection %d, want west (east full)", i)
	}
	if cs[0].Live() != 1 || cs[1].Live() != 1 {
		t.Fatalf("live %d %d, want 1 1", cs[0].Live(), cs[1].Live())
	}
	tk.Release()
	other.Release()
	if cs[0].Live() != 0 || cs[1].Live() != 0 {
		t.Fatal("counts not zero")
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
		{[]Backend{{Address: "x"}}, "no counter"},
		{[]Backend{{Address: "x", Counter: c, PathCost: -1}}, "negative path cost -1"},
		{[]Backend{{Address: "x", Counter: c, MaxConns: -3}}, "negative max connections -3"},
	} {
		_, err := New(tc.bes, nil)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%v) = %v, want error containing %q", tc.bes, err, tc.want)
		}
	}
}

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
// limit. Holds that yield now and then keep places taken while other picks
// run. With an uncapped backend behind the capped ones, no pick is refused;
// with every backend capped, the picks beyond the limits are.
func TestMaxConnsHoldsUnderConcurrentPicks(t *testing.T) {
	prev := runtime.GOMAXPROCS(max(2, runtime.GOMAXPROCS(0)))
	defer runtime.GOMAXPROCS(prev)
	t.Run("spill to uncapped", func(t *testing.T) {
		specs := []spec{{"east", 0, 1}, {"east", 0, 2}, {"west", 3, 1}, {"north", 6, 0}}
		picks, refused := hammerCaps(t, specs)
		if refused != 0 || picks[3] == 0 {
			t.Errorf("%d picks refused, %d reached the uncapped backend; want 0 refused and the overflow on it", refused, picks[3])
		}
	})
	t.Run("all capped", func(t *testing.T) {
		picks, refused := hammerCaps(t, []spec{{"east", 0, 1}, {"east", 0, 1}, {"west", 2, 2}})
		if refused == 0 {
			t.Errorf("no pick refused with 8 goroutines over 4 places (picks %v): the limits were never reached", picks)
		}
	})
}

// hammerCaps runs 8 goroutines that each pick, hold and release 3000 times
// over backends specs, checks no count read by a holder exceeded its
// backend's limit and every count ends at 0, and returns the picks per
// backend and the picks refused.
func hammerCaps(t *testing.T, specs []spec) (picks []int64, refused int64) {
	t.Helper()
	b, cs := newBalancer(t, specs)
	const goroutines, picksEach = 8, 3000
	peak := make([]atomic.Int64, len(specs)) // highest count a holder read
	counts := make([]atomic.Int64, len(specs))
	var nRefused atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			var tk Ticket
			for k := range picksEach {
				i := b.Pick(&tk)
				if i < 0 {
					nRefused.Add(1)
					continue
				}
				counts[i].Add(1)
				raise(&peak[i], cs[i].Live())
				if (g+k)%3 == 0 {
					runtime.Gosched() // hold the place while others pick
				}
				tk.Release()
			}
		}()
	}
	close(start)
	wg.Wait()
	peaks := make([]int64, len(specs))
	for i, s := range specs {
		picks = append(picks, counts[i].Load())
		peaks[i] = peak[i].Load()
		if s.max > 0 && peak[i].Load() > s.max {
			t.Errorf("backend %d: a holder read %d live connections; max_connections %d", i, peak[i].Load(), s.max)
		}
		if cs[i].Live() != 0 {
			t.Errorf("backend %d: live %d after every release", i, cs[i].Live())
		}
	}
	t.Logf("picks %v, refused %d, peaks read %v", picks, nRefused.Load(), peaks)
	return picks, nRefused.Load()
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

// TestShiftBetweenEqualCostSites: failover and failback are told apart by
// whether the old primary site still has a healthy backend, so a move
// between two sites of the same path cost is classified right.
func TestShiftBetweenEqualCostSites(t *testing.T) {
	reg := NewRegistry()
	var upA, upB atomic.Bool
	upA.Store(true)
	upB.Store(true)
	var shifts []Shift
	b, err := New([]Backend{
		{Site: "a", Address: "a", PathCost: 5, Counter: reg.Counter("a"), Healthy: upA.Load},
		{Site: "b", Address: "b", PathCost: 5, Counter: reg.Counter("b"), Healthy: upB.Load},
	}, func(s Shift) { shifts = append(shifts, s) })
	if err != nil {
		t.Fatal(err)
	}
	var tk Ticket
	b.Pick(&tk) // primary a, reported as Initial
	upA.Store(false)
	b.Pick(&tk) // a down: failover to b at the same cost
	upA.Store(true)
	b.Pick(&tk) // a back and first in order: failback, b still healthy
	tk.Release()
	if len(shifts) != 3 || !shifts[0].Initial {
		t.Fatalf("shifts %+v", shifts)
	}
	if s := shifts[1]; s.From != "a" || s.To != "b" || !s.Failover() {
		t.Errorf("a down: %+v, failover %v; want a -> b as a failover", s, s.Failover())
	}
	if s := shifts[2]; s.From != "b" || s.To != "a" || s.Failover() {
		t.Errorf("a back: %+v, failover %v; want b -> a as a failback", s, s.Failover())
	}
	if !b.SiteHealthy("a") || b.SiteHealthy("nowhere") {
		t.Error("SiteHealthy wrong")
	}
}

// TestObserveWithoutTraffic: with no pick at all, Observe notices the
// primary site going down and coming back, once each.
func TestObserveWithoutTraffic(t *testing.T) {
	reg := NewRegistry()
	var eastUp atomic.Bool
	eastUp.Store(true)
	var shifts []Shift
	b, err := New([]Backend{
		{Site: "east", Address: "e", PathCost: 0, Counter: reg.Counter("e"), Healthy: eastUp.Load},
		{Site: "west", Address: "w", PathCost: 5, Counter: reg.Counter("w")},
	}, func(s Shift) { shifts = append(shifts, s) })
	if err != nil {
		t.Fatal(err)
	}
	b.Observe()
	b.Observe() // nothing changed: nothing reported
	eastUp.Store(false)
	b.Observe()
	b.Observe()
	eastUp.Store(true)
	b.Observe()
	if len(shifts) != 3 || !shifts[0].Initial || shifts[0].To != "east" ||
		shifts[1].From != "east" || shifts[1].To != "west" || !shifts[1].Failover() ||
		shifts[2].From != "west" || shifts[2].To != "east" || shifts[2].Failover() {
		t.Fatalf("shifts %+v: want the initial east, a failover east->west, a failback west->east", shifts)
	}
	if b.Primary() != "east" {
		t.Errorf("primary %q, want east", b.Primary())
	}
}
