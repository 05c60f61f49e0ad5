package module

import (
	"sync/atomic"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/costlb/costlb/costlb"
)

// shiftRig is one generation of a service with a backend in east and one
// in west (5 away), whose health the test sets, logging its primary-site
// changes through memo as the handlers do.
type shiftRig struct {
	bal        *costlb.Balancer
	east, west atomic.Bool
}

func newShiftRig(t *testing.T, logger *zap.Logger, memo *primaryMemo) *shiftRig {
	t.Helper()
	p := &Primary{memo: memo, logger: logger, service: "svc"}
	r := new(shiftRig)
	zero := func() int64 { return 0 }
	bes := []costlb.Backend{
		{Site: "east", Address: "127.0.0.1:1", Load: zero, Healthy: r.east.Load},
		{Site: "west", Address: "127.0.0.1:2", PathCost: 5, Load: zero, Healthy: r.west.Load},
	}
	var err error
	r.bal, err = costlb.New(bes, func(s costlb.Shift) { p.LogShift(r.bal, s) })
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// shiftLines returns the failover/failback lines logged so far as
// "kind from->to", with "-" for a site field the line does not have.
func shiftLines(logs *observer.ObservedLogs) []string {
	var out []string
	for _, e := range logs.All() {
		f := e.ContextMap()
		site := func(k string) string {
			if v, ok := f[k]; ok {
				return v.(string)
			}
			return "-"
		}
		out = append(out, e.Message+" "+site("from_site")+"->"+site("to_site"))
	}
	return out
}

func wantLines(t *testing.T, logs *observer.ObservedLogs, want ...string) {
	t.Helper()
	got := shiftLines(logs)
	if len(got) != len(want) {
		t.Fatalf("logged %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("logged %q, want %q", got, want)
		}
	}
}

// TestPrimaryFirstSiteIsNoFailback: a service whose first look finds no
// usable backend (its first health check ran before its backends
// listened) and whose next finds east has learned its first primary site,
// which is no failback from an empty site.
func TestPrimaryFirstSiteIsNoFailback(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	r := newShiftRig(t, zap.New(core), new(primaryMemo))
	r.bal.Observe() // nothing usable yet
	r.east.Store(true)
	r.west.Store(true)
	r.bal.Observe()
	if p := r.bal.Primary(); p != "east" {
		t.Fatalf("primary %q, want east", p)
	}
	wantLines(t, logs)

	// from then on every change is logged, naming only real sites
	r.east.Store(false)
	r.bal.Observe()
	r.west.Store(false)
	r.bal.Observe()
	r.west.Store(true)
	r.bal.Observe()
	r.east.Store(true)
	r.bal.Observe()
	wantLines(t, logs, "costlb failover east->west", "costlb failover west->-", "costlb failback -->west", "costlb failback west->east")
	for _, e := range logs.All() {
		for k, v := range e.ContextMap() {
			if v == "" {
				t.Errorf("%q logged an empty %s: %v", e.Message, k, e.ContextMap())
			}
		}
	}
}

// TestPrimaryAcrossGenerations: a new config generation of the service
// compares its first look with the memo, and of two generations that see
// the same change while a reload overlaps them only one logs it.
func TestPrimaryAcrossGenerations(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	memo := new(primaryMemo)
	old := newShiftRig(t, zap.New(core), memo)
	old.east.Store(true)
	old.west.Store(true)
	old.bal.Observe()

	// a new generation whose first look finds no usable backend logs the
	// outage from the site the memo had, and its recovery
	cur := newShiftRig(t, zap.New(core), memo)
	cur.bal.Observe()
	wantLines(t, logs, "costlb failover east->-")
	cur.east.Store(true)
	cur.west.Store(true)
	cur.bal.Observe()
	wantLines(t, logs, "costlb failover east->-", "costlb failback -->east")

	// both generations see east go: one line
	old.east.Store(false)
	cur.east.Store(false)
	old.bal.Observe()
	cur.bal.Observe()
	wantLines(t, logs, "costlb failover east->-", "costlb failback -->east", "costlb failover east->west")

	// a third generation whose first look agrees with the memo logs nothing
	next := newShiftRig(t, zap.New(core), memo)
	next.west.Store(true)
	next.bal.Observe()
	if n := len(logs.All()); n != 3 {
		t.Fatalf("a generation that found the memo's site logged: %q", shiftLines(logs))
	}
}
