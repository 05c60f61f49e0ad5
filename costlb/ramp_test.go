package costlb

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

// rampRig is two backends of one site, the second of which a test takes
// down and brings back, over a clock the test moves.
type rampRig struct {
	b     *Balancer
	cs    []*Counter
	up    *atomic.Bool // the second backend's health
	clock *atomic.Int64
}

func newRampRig(t *testing.T, reg *Registry, weight int64, slow time.Duration, clock *atomic.Int64) rampRig {
	t.Helper()
	up := new(atomic.Bool)
	up.Store(true)
	cs := []*Counter{reg.Counter("a:1"), reg.Counter("b:1")}
	b, err := New([]Backend{
		{Site: "east", Address: "a:1", Counter: cs[0], Weight: weight},
		{Site: "east", Address: "b:1", Counter: cs[1], Weight: weight, Healthy: up.Load},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.SetSlowStart(slow, clock.Load)
	return rampRig{b, cs, up, clock}
}

// bounce takes the second backend down, lets a pick see it, and brings it
// back: the next pick sees it come back.
func (r rampRig) bounce(t *testing.T) {
	t.Helper()
	r.up.Store(false)
	if i := r.b.Pick(nil); i != 0 {
		t.Fatalf("picked %d while backend 1 is down", i)
	}
	r.up.Store(true)
}

// TestRampShare: the recovered backend's share of its weight grows from
// 10% to 100% linearly over the slow-start duration, by the injected
// clock, and the ramp ends there.
func TestRampShare(t *testing.T) {
	var clock atomic.Int64
	clock.Store(int64(time.Hour))
	r := newRampRig(t, NewRegistry(), 2, 10*time.Second, &clock)
	if st := r.b.State(1); st.Share != fullShare || st.RampLeft != 0 || st.Weight != 2 {
		t.Fatalf("before any failure: share %d, left %v, weight %d; want full, 0, 2", st.Share, st.RampLeft, st.Weight)
	}
	r.bounce(t)
	r.b.Pick(nil) // sees it back: the ramp starts now
	for _, c := range []struct {
		at    time.Duration
		share uint64
		left  time.Duration
	}{
		{0, 100_000, 10 * time.Second},
		{time.Second, 190_000, 9 * time.Second},
		{5 * time.Second, 550_000, 5 * time.Second},
		{9*time.Second + 999*time.Millisecond, 999_910, time.Millisecond},
		{10 * time.Second, fullShare, 0},
	} {
		clock.Store(int64(time.Hour + c.at))
		st := r.b.State(1)
		if st.Share != c.share || st.RampLeft != c.left {
			t.Errorf("at %v: share %d, left %v; want %d, %v", c.at, st.Share, st.RampLeft, c.share, c.left)
		}
	}
	r.b.Pick(nil)
	if r.cs[1].Ramp().Ramping() {
		t.Error("the ramp still runs after its duration")
	}
}

// TestRampPlacement: a backend back from a failure takes new connections
// gradually with slow start, all of them without it (Skupper's rule).
func TestRampPlacement(t *testing.T) {
	for _, c := range []struct {
		slow time.Duration
		want []int // of the next 20 held connections, with backend 0 holding 20
	}{
		{0, []int{0, 20}},
		// effective weight 0.1: each connection on backend 1 counts 10;
		// it takes the 1st, 2nd, 4th and 14th (at 10, 20, 30, 40 against
		// backend 0's 20, 21, 30 and 36)
		{10 * time.Second, []int{16, 4}},
	} {
		t.Run(fmt.Sprint("slow_start=", c.slow), func(t *testing.T) {
			var clock atomic.Int64
			clock.Store(1)
			r := newRampRig(t, NewRegistry(), 1, c.slow, &clock)
			r.cs[0].live.Store(20)
			r.bounce(t)
			if got := hold(t, r.b, 20); fmt.Sprint(got) != fmt.Sprint(c.want) {
				t.Fatalf("next 20 connections went %v, want %v", got, c.want)
			}
			if c.slow == 0 {
				return
			}
			// halfway (55%), backend 0 holding 36 and backend 1 4:
			// backend 1 counts 4 ÷ 0.55 = 7.3
			clock.Store(1 + int64(c.slow/2))
			if i := r.b.Pick(nil); i != 1 {
				t.Fatalf("halfway, picked %d, want 1", i)
			}
		})
	}
}

// TestRampNotAtStartButAcrossReload: a new balancer (process start, or a
// reload) does not ramp a backend it never saw unavailable; a reload's new
// balancer over the same counters keeps a running ramp where it was.
func TestRampNotAtStartButAcrossReload(t *testing.T) {
	var clock atomic.Int64
	clock.Store(1)
	reg := NewRegistry()
	r := newRampRig(t, reg, 1, 10*time.Second, &clock)
	r.b.Pick(nil)
	if r.cs[1].Ramp().Ramping() {
		t.Fatal("a ramp started at start")
	}
	r.bounce(t)
	r.b.Pick(nil)
	clock.Add(int64(3 * time.Second))
	next := newRampRig(t, reg, 1, 10*time.Second, &clock) // the reload: same registry
	if st := next.b.State(1); st.Share != 370_000 || st.RampLeft != 7*time.Second {
		t.Fatalf("after the reload: share %d, left %v; want 370000, 7s", st.Share, st.RampLeft)
	}
}

// TestRampOnMaxConnections: a backend at its max_connections is
// unavailable; when a connection ends it comes back and ramps.
func TestRampOnMaxConnections(t *testing.T) {
	var clock atomic.Int64
	clock.Store(1)
	reg := NewRegistry()
	cs := []*Counter{reg.Counter("a:1"), reg.Counter("b:1")}
	b, err := New([]Backend{
		{Site: "east", Address: "a:1", Counter: cs[0]},
		{Site: "east", Address: "b:1", Counter: cs[1], MaxConns: 2},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	b.SetSlowStart(time.Second, clock.Load)
	tks := make([]Ticket, 5)
	for i := range tks {
		b.Pick(&tks[i]) // b:1 fills at 2 and is passed over
	}
	if cs[1].Ramp().Ramping() {
		t.Fatal("ramping while full")
	}
	for i := range tks {
		if tks[i].Held() == cs[1] {
			tks[i].Release()
			break
		}
	}
	b.Observe() // the health watch sees it back
	if st := b.State(1); !cs[1].Ramp().Ramping() || st.Share != 100_000 {
		t.Fatalf("after a place freed: ramping %t, share %d; want a ramp at 10%%", cs[1].Ramp().Ramping(), st.Share)
	}
}

func TestRampRegistry(t *testing.T) {
	reg := NewRampRegistry()
	a, a2 := reg.Hold("x:1"), reg.Hold("x:1")
	if a != a2 || reg.Len() != 1 {
		t.Fatalf("two holds of one address: %p %p, %d ramps", a, a2, reg.Len())
	}
	reg.Release(a)
	if reg.Len() != 1 {
		t.Fatal("freed while held")
	}
	reg.Release(a2)
	if reg.Len() != 0 {
		t.Fatal("not freed once released")
	}
}
