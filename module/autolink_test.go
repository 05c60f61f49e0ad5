package module

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/costlb/costlb/linkgraph"
	"github.com/costlb/costlb/module/history"
	"github.com/costlb/costlb/module/rttcost"
)

// autoApp returns an app of site east with links, its auto links held,
// given back at the end of the test.
func autoApp(t *testing.T, links []linkgraph.Link) *App {
	t.Helper()
	n, err := newNetwork("east", links)
	if err != nil {
		t.Fatal(err)
	}
	a := &App{Site: "east", Links: links, network: n}
	a.metrics = newMetrics(nil, a)
	if err := a.holdAuto(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = a.Cleanup() })
	return a
}

// TestSiteCostsStaticNetwork: without an auto link the costs never
// change, and the pick reads plain path costs.
func TestSiteCostsStaticNetwork(t *testing.T) {
	a := autoApp(t, []linkgraph.Link{{Between: [2]string{"east", "west"}, Cost: 4}})
	sc, err := a.SiteCosts("svc", nil)
	if err != nil {
		t.Fatal(err)
	}
	if sc.Cell("west") != nil {
		t.Fatal("a cell for a network without auto links")
	}
	if c, _ := sc.Paths().Cost("west"); c.Cost != 4 {
		t.Fatalf("west costs %d, want 4", c.Cost)
	}
}

func cellOf(t *testing.T, sc *SiteCosts, site string) int64 {
	t.Helper()
	c := sc.Cell(site)
	if c == nil {
		t.Fatalf("no cell for site %q", site)
	}
	return c.Load()
}

// TestSiteCostsFollowAutoLinks: a measured cost reaches every service's
// path costs when the app applies it, a service's own override wins over
// the measurement, and the measured state outlives a reload but not the
// last config that has the link.
func TestSiteCostsFollowAutoLinks(t *testing.T) {
	links := []linkgraph.Link{
		{Between: [2]string{"east", "west"}, Auto: true},
		{Between: [2]string{"east", "north"}, Cost: 50},
		{Between: [2]string{"west", "north"}, Cost: 1},
	}
	a := autoApp(t, links)
	plain, err := a.SiteCosts("plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	pinned, err := a.SiteCosts("pinned", []linkgraph.Link{{Between: [2]string{"west", "east"}, Cost: 7}})
	if err != nil {
		t.Fatal(err)
	}
	// unmeasured, the link counts 9998: west is cheaper through north
	if w, n := cellOf(t, plain, "west"), cellOf(t, plain, "north"); w != 51 || n != 50 {
		t.Fatalf("before any measurement: west %d, north %d; want 51 (through north) and 50", w, n)
	}
	if a.RTTSink("north") != nil || a.RTTSink("east") != nil {
		t.Fatal("a sink for a site at the end of no auto link")
	}
	changes := countEvents(history.KindCostChange)
	a.RTTSink("west")(3 * time.Millisecond)
	a.refreshCosts()
	if got := countEvents(history.KindCostChange); got != changes+1 {
		t.Fatalf("%d cost change events after the first measurement, want %d", got, changes+1)
	}
	evs := History.Snapshot(history.Query{NoBackends: true}).Events
	if e := evs[len(evs)-1]; e.Kind != history.KindCostChange || e.From != "9998" || e.To != "3" || len(e.Link) != 2 || e.Link[0] != "east" || e.Link[1] != "west" {
		t.Fatalf("last event %+v, want east–west's cost from 9998 to 3", e)
	}
	if w, n := cellOf(t, plain, "west"), cellOf(t, plain, "north"); w != 3 || n != 4 {
		t.Fatalf("at 3 ms: west %d, north %d; want 3 and 4 (through west)", w, n)
	}
	if w, n := cellOf(t, pinned, "west"), cellOf(t, pinned, "north"); w != 7 || n != 8 {
		t.Fatalf("with link_cost east west 7: west %d, north %d; want 7 and 8", w, n)
	}
	if p := a.livePaths().Path("north"); len(p) != 3 || p[1] != "west" {
		t.Fatalf("the app's path to north is %v, want through west", p)
	}
	if v := a.linkViews()[0]; !v.Auto || v.Cost != 3 || v.RTTMs == nil || *v.RTTMs != 3 {
		t.Fatalf("link view %+v, want auto at cost 3 and 3 ms", v)
	}
	if v := a.linkViews()[1]; v.Auto || v.RTTMs != nil || v.Cost != 50 {
		t.Fatalf("static link view %+v", v)
	}

	// the next config holds the link before this one is cleaned up, as a
	// reload does: it counts 3 at once
	next := autoApp(t, links)
	sc, err := next.SiteCosts("plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	if w := cellOf(t, sc, "west"); w != 3 {
		t.Fatalf("after a reload: west %d, want the measured 3", w)
	}
	_ = a.Cleanup()
	_ = a.Cleanup() // a second Cleanup gives back nothing more
	_ = next.Cleanup()
	fresh := autoApp(t, links)
	if c := fresh.linkViews()[0].Cost; c != rttcost.Unmeasured {
		t.Fatalf("a config after every holder is gone counts %d, want %d", c, rttcost.Unmeasured)
	}
}

// TestStartDoesNotCallMeasurablePathsStray: a link that a cheapest path
// crosses once the auto link is measured is no stray link, though at the
// unmeasured 9998 no cheapest path crosses it.
func TestStartDoesNotCallMeasurablePathsStray(t *testing.T) {
	links := []linkgraph.Link{
		{Between: [2]string{"east", "west"}, Auto: true},
		{Between: [2]string{"west", "north"}, Cost: 1},
		{Between: [2]string{"east", "north"}, Cost: 50},
		{Between: [2]string{"north", "far"}, Cost: 1},
	}
	a := autoApp(t, links)
	core, logs := observer.New(zapcore.WarnLevel)
	a.logger = zap.New(core)
	if err := a.Register(useOnly{"db", linkgraph.Use{Sites: []string{"north"}}}); err != nil {
		t.Fatal(err)
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	defer a.Stop()
	got := logs.FilterMessage("costlb link of no use to this Caddy").All()
	if len(got) != 1 || got[0].ContextMap()["link"] != `"north"–"far" (cost 1)` {
		t.Fatalf("stray-link warnings %v, want only north–far", got)
	}
	// west has no backend to measure the link by
	got = logs.FilterMessage("costlb auto link with nothing to measure").All()
	if len(got) != 1 || got[0].ContextMap()["link"] != `"east"–"west" (cost auto)` {
		t.Fatalf("nothing-to-measure warnings %v, want one for east–west", got)
	}
}
