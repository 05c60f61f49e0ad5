package costlb

// Unavailable backends, retries and the primary site: what a pick does
// when backends go down, fill up or come back.

import (
	"fmt"
	"sync/atomic"
	"testing"
)

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
	want := "[{ east false true} {east west false false} {west backup false false} {backup  false false} { east false false}]"
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
