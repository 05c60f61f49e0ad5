package module

import (
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/costlb/costlb/linkgraph"
	"github.com/costlb/costlb/module/history"
)

// newTestApp returns an app of site east with links, not started.
func newTestApp(t *testing.T, links []linkgraph.Link, services ...Service) *App {
	t.Helper()
	n, err := newNetwork("east", links)
	if err != nil {
		t.Fatal(err)
	}
	a := &App{Site: "east", Links: links, network: n, logger: zap.NewNop()}
	for _, s := range services {
		if err := a.Register(s); err != nil {
			t.Fatal(err)
		}
	}
	return a
}

// countEvents counts History's events of kind.
func countEvents(kind string) int {
	n := 0
	for _, e := range History.Snapshot(history.Query{NoBackends: true}).Events {
		if e.Kind == kind {
			n++
		}
	}
	return n
}

// waitSamples waits until History has a sample of service newer than
// after, and fails the test after 10 s.
func waitSamples(t *testing.T, service string, after time.Time) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		d := History.Snapshot(history.Query{Service: service, NoBackends: true})
		if d.Last != nil && d.Last.After(after) && len(d.Services) == 1 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no sample of %s after %v", service, after)
		}
		time.Sleep(5 * time.Millisecond) // polls the condition
	}
}

// TestSamplerFollowsTheRunningApp: a reload (the new config starts, then
// the old one stops) hands the one sampler over to the new app without
// stopping or doubling it, records a reload and the changed link costs,
// and the last app's Stop stops it. A reload that fails once the new app
// started (Caddy stops it, the old config runs on) hands it back.
func TestSamplerFollowsTheRunningApp(t *testing.T) {
	t.Setenv(historyIntervalEnv, "5ms")
	ln := func(c int64) []linkgraph.Link { return []linkgraph.Link{{Between: [2]string{"east", "west"}, Cost: c}} }
	svc := useOnly{"sampled", linkgraph.Use{Sites: []string{"east"}}}
	a1, a2 := newTestApp(t, ln(5), svc), newTestApp(t, ln(8), svc)
	reloads := countEvents(history.KindReload)

	if err := a1.Start(); err != nil {
		t.Fatal(err)
	}
	costs := countEvents(history.KindCostChange) // against a1's links from here
	t.Cleanup(func() { _ = a1.Stop(); _ = a2.Stop() })
	sampler.mu.Lock()
	stop := sampler.stop
	sampler.mu.Unlock()
	waitSamples(t, "sampled", time.Now())

	// a reload that fails after the new app started: Caddy stops it
	failed := newTestApp(t, ln(5), svc)
	if err := failed.Start(); err != nil {
		t.Fatal(err)
	}
	if err := failed.Stop(); err != nil {
		t.Fatal(err)
	}
	sampler.mu.Lock()
	owner, same := samplerOwner(), sampler.stop == stop
	sampler.mu.Unlock()
	if owner != a1 || !same {
		t.Fatalf("after a failed reload the sampler is owned by %p (want the running app %p), the same goroutine: %v", owner, a1, same)
	}
	waitSamples(t, "sampled", time.Now())

	if err := a2.Start(); err != nil {
		t.Fatal(err)
	}
	if err := a1.Stop(); err != nil {
		t.Fatal(err)
	}
	sampler.mu.Lock()
	owner, same = samplerOwner(), sampler.stop == stop
	sampler.mu.Unlock()
	if owner != a2 || !same {
		t.Fatalf("after the reload the sampler is owned by %p (want the new app %p), the same goroutine: %v", owner, a2, same)
	}
	waitSamples(t, "sampled", time.Now())
	if got := countEvents(history.KindReload); got != reloads+3 && got != reloads+2 {
		// the first start is a reload too when another test started an
		// app before in this process
		t.Errorf("%d reload events after three starts, had %d", got, reloads)
	}
	if got := countEvents(history.KindCostChange); got != costs+1 {
		t.Errorf("%d cost change events, want %d: east–west went from 5 to 8 (the failed reload kept 5)", got, costs+1)
	}

	if err := a2.Stop(); err != nil {
		t.Fatal(err)
	}
	sampler.mu.Lock()
	running := sampler.stop != nil
	sampler.mu.Unlock()
	if running {
		t.Fatal("the sampler runs on after the running app stopped")
	}
}
