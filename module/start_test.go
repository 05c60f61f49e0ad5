package module

import (
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/costlb/costlb/costlb"
	"github.com/costlb/costlb/linkgraph"
)

// useOnly is a Service that only says what it uses of the network.
type useOnly struct {
	name string
	use  linkgraph.Use
}

func (s useOnly) ServiceName() (string, bool)   { return s.name, false }
func (useOnly) ServiceKind() string             { return "layer4" }
func (useOnly) View() ServiceView               { return ServiceView{} }
func (useOnly) Routes() []costlb.Route          { return nil }
func (useOnly) CollectMetrics(*ServiceMetrics)  {}
func (useOnly) HeldCounters() []*costlb.Counter { return nil }
func (s useOnly) SiteUse() linkgraph.Use        { return s.use }

// startApp starts an app of site and links with services, and returns
// the warnings it logged.
func startApp(t *testing.T, site string, links []linkgraph.Link, services ...Service) []observer.LoggedEntry {
	t.Helper()
	n, err := newNetwork(site, links)
	if err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zapcore.WarnLevel)
	a := &App{Site: site, Links: links, network: n, logger: zap.New(core)}
	for _, s := range services {
		if err := a.Register(s); err != nil {
			t.Fatal(err)
		}
	}
	if err := a.Start(); err != nil {
		t.Fatal(err)
	}
	// Start started the history's sampler
	t.Cleanup(func() { _ = a.Stop() })
	return logs.FilterMessage("costlb link of no use to this Caddy").All() // the stray-link warnings alone
}

func TestStartWarnsOfStrayLinks(t *testing.T) {
	ln := func(a, b string, c int64) linkgraph.Link { return linkgraph.Link{Between: [2]string{a, b}, Cost: c} }
	links := []linkgraph.Link{ln("east", "west", 5), ln("south", "north", 3), ln("west", "far", 1), ln("far", "beyond", 1)}
	l4 := useOnly{"db", linkgraph.Use{Sites: []string{"east", "west"}}}
	http := useOnly{"shop", linkgraph.Use{Sites: []string{"east", "far"}}}
	got := startApp(t, "east", links, l4, http)
	if len(got) != 2 {
		t.Fatalf("logged %d warnings, want 2 (south–north and far–beyond): %v", len(got), got)
	}
	want := []struct{ link, reason string }{
		{`"south"–"north" (cost 3)`, `no path from the local site "east" reaches it`},
		{`"far"–"beyond" (cost 1)`, `site "beyond" has no backend of any service`},
	}
	for i, e := range got {
		f := e.ContextMap()
		if e.Level != zapcore.WarnLevel || f["link"] != want[i].link || !strings.Contains(f["reason"].(string), want[i].reason) ||
			!strings.Contains(f["reason"].(string), "warning only") {
			t.Errorf("warning %d: %s %q %v; want link %s, reason containing %q", i, e.Level, e.Message, f, want[i].link, want[i].reason)
		}
	}
}

func TestStartWarnsOfNothingUsed(t *testing.T) {
	ln := func(a, b string, c int64) linkgraph.Link { return linkgraph.Link{Between: [2]string{a, b}, Cost: c} }
	// The quickstart: every site has a backend.
	quick := []linkgraph.Link{ln("east", "west", 5), ln("west", "north", 9994)}
	if got := startApp(t, "east", quick, useOnly{"demo", linkgraph.Use{Sites: []string{"east", "west", "north"}}}); len(got) != 0 {
		t.Errorf("quickstart: warned %v", got)
	}
	// A path that is cheapest only under a service's override.
	diamond := []linkgraph.Link{ln("east", "a", 1), ln("a", "dst", 1), ln("east", "b", 1), ln("b", "dst", 5)}
	over := useOnly{"over", linkgraph.Use{Sites: []string{"dst"}, Overrides: []linkgraph.Link{ln("a", "dst", 9)}}}
	if got := startApp(t, "east", diamond, over, useOnly{"plain", linkgraph.Use{Sites: []string{"dst"}}}); len(got) != 0 {
		t.Errorf("override: warned %v", got)
	}
	// One site, no links.
	if got := startApp(t, "solo", nil, useOnly{"s", linkgraph.Use{Sites: []string{"solo"}}}); len(got) != 0 {
		t.Errorf("one site: warned %v", got)
	}
}
