package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// Changes no client notices: a reload by itself never fails a check that
// passed, logs a failover or fails a connection (SPEC "Changes without
// disturbance").

// costPatch is the admin API path of the first link's cost.
const costPatch = "/config/apps/costlb/links/0/cost"

// TestQuickstartCostChangesNoFakeFailover: the quick start's demo servers
// live in the config that is reloaded, so every cost change closes the
// listeners they answer on and opens new ones. 20 changes of the east-west
// cost (5 and 6: east stays cheapest), 10 requests after each: every one
// answered by east, primary_site east after every change, and no failover
// or failback logged. It runs with net.ipv4.tcp_migrate_req off where it
// can be set, the case in which checks meet reset connections.
func TestQuickstartCostChangesNoFakeFailover(t *testing.T) {
	if err := harness.SetSysctl(t, "net.ipv4.tcp_migrate_req", "0"); err != nil {
		t.Logf("running with the machine's net.ipv4.tcp_migrate_req: %v", err)
	}
	ports := make(map[string]string)
	c := harness.StartCaddy(t, example(t, "quickstart/Caddyfile", ports), "caddyfile")
	l4 := "127.0.0.1" + ports[":8080"]
	harness.WaitFor(t, relTimeout, func() bool {
		v, _, err := fetchView(c)
		if err != nil || len(v.Services) != 1 {
			return false
		}
		for _, b := range v.Services[0].Backends {
			if !b.Healthy {
				return false
			}
		}
		return v.Services[0].PrimarySite == "east"
	}, "the quick start's three demo servers healthy, east primary")

	answers := make(map[string]int)
	for i := range 20 {
		cost := 5 + (i+1)%2
		if status, body, err := c.Patch(costPatch, []byte(fmt.Sprint(cost))); err != nil || status != 200 {
			t.Fatalf("change %d (cost %d): %d %s %v", i+1, cost, status, body, err)
		}
		if p := mustView(t, c).Services[0].PrimarySite; p != "east" {
			t.Errorf("change %d (cost %d): primary_site %q right after the reload, want east", i+1, cost, p)
		}
		for j := range 10 {
			name, err := httpVia(l4)
			if err != nil {
				name = err.Error()
			}
			answers[name]++
			if name != "east" {
				t.Errorf("change %d (cost %d), request %d: answered %q, want east", i+1, cost, j+1, name)
			}
		}
	}
	var shifts []string
	for _, line := range strings.Split(c.Logs(), "\n") {
		if strings.Contains(line, `"msg":"costlb failover"`) || strings.Contains(line, `"msg":"costlb failback"`) {
			shifts = append(shifts, line)
		}
	}
	if len(shifts) != 0 {
		t.Errorf("cost changes alone logged %d failover/failback lines:\n%s", len(shifts), strings.Join(shifts, "\n"))
	}
	t.Logf("20 cost changes: answers %v; caddy-l4 logged %d \"host is down\" lines (its checks met the listener swap), costlb acted on none",
		answers, strings.Count(c.Logs(), `"msg":"host is down"`))
}

// churnResult is what 30 cost changes under churn did to the clients.
type churnResult struct {
	conns, failed int
	errs          map[string]int
}

// costChangesUnderChurn runs 8 clients opening and closing connections
// through a costlb service while the east-west cost changes 30 times (5
// and 6, each a reload through the admin API), and counts the connections
// that failed.
func costChangesUnderChurn(t *testing.T) churnResult {
	e1 := harness.StartBackend(t, "e1")
	w1 := harness.StartBackend(t, "w1")
	listen := harness.FreeAddr(t)
	c := harness.StartCaddy(t, costlbCaddyfile(`
		site east
		link east west 5`, costlbRoute(listen, `
		name svc
		backend east %s
		backend west %s`, e1.Addr(), w1.Addr())), "caddyfile")
	if name, err := harness.Once(listen, relTimeout); err != nil || name != "e1" {
		t.Fatalf("before the changes: %q %v, want e1", name, err)
	}
	load := startShortLoad(listen, 8, time.Millisecond)
	defer load.Stop()
	for i := range 30 {
		// wait for some connections between reloads, so each reload meets
		// traffic
		before := len(load.snapshot())
		harness.WaitFor(t, relTimeout, func() bool { return len(load.snapshot()) >= before+100 }, "the clients make progress")
		if status, body, err := c.Patch(costPatch, []byte(fmt.Sprint(5+(i+1)%2))); err != nil || status != 200 {
			t.Fatalf("change %d: %d %s %v", i+1, status, body, err)
		}
	}
	recs := load.Stop()
	r := churnResult{conns: len(recs), errs: make(map[string]int)}
	for _, rec := range recs {
		if rec.err != nil {
			r.failed++
			r.errs[rec.err.Error()[strings.LastIndex(rec.err.Error(), ": ")+2:]]++
		}
	}
	return r
}

// TestCostChangesUnderChurn: with net.ipv4.tcp_migrate_req on, 30 cost
// changes while clients open and close connections fail none of them.
// It sets the setting for the test and restores it.
func TestCostChangesUnderChurn(t *testing.T) {
	if err := harness.SetSysctl(t, "net.ipv4.tcp_migrate_req", "1"); err != nil {
		harness.SkipUnlessCI(t, "cannot turn net.ipv4.tcp_migrate_req on: "+err.Error())
	}
	r := costChangesUnderChurn(t)
	t.Logf("tcp_migrate_req=1: %d of %d connections failed over 30 cost changes: %v", r.failed, r.conns, r.errs)
	if r.failed != 0 {
		t.Errorf("%d of %d connections failed over 30 cost changes with tcp_migrate_req=1: %v", r.failed, r.conns, r.errs)
	}
}

// TestCostChangesUnderChurnMigrateOff measures, with -long, the same with
// the setting off, the figure the README gives: connections still queued
// on a closed listening socket are reset. It checks that every failure is
// such a reset (or its EOF), not something costlb did.
func TestCostChangesUnderChurnMigrateOff(t *testing.T) {
	if !*reliabilityLong {
		t.Skip("a measurement for the README; run with -long")
	}
	if err := harness.SetSysctl(t, "net.ipv4.tcp_migrate_req", "0"); err != nil {
		t.Skip("cannot turn net.ipv4.tcp_migrate_req off: " + err.Error())
	}
	r := costChangesUnderChurn(t)
	t.Logf("tcp_migrate_req=0: %d of %d connections failed over 30 cost changes: %v", r.failed, r.conns, r.errs)
	for e := range r.errs {
		if !strings.Contains(e, "reset") && !strings.Contains(e, "EOF") {
			t.Errorf("a failure that is no reset: %q", e)
		}
	}
}
