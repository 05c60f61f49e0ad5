package module

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"go.uber.org/zap"

	cfile "github.com/costlb/costlb/caddyfile"
	"github.com/costlb/costlb/costlb"
	"github.com/costlb/costlb/linkgraph"
)

func init() {
	caddy.RegisterModule(new(App))
	httpcaddyfile.RegisterGlobalOption("costlb", parseGlobalOption)
}

// Counters holds the live connection counts of every dial address, for the
// whole process: every service and every config generation shares them, so
// a reload never resets a count. A layer4 service holds its counters from
// Provision to Cleanup; an address no config uses and no connection is
// counted on is forgotten.
var Counters = costlb.NewRegistry()

// App is the costlb app: the site network this Caddy instance runs in. The
// costlb services of the same config balance across its sites.
type App struct {
	// Site is the local site: the site this Caddy instance runs in.
	Site string `json:"site,omitempty"`
	// Links join sites; each has a cost from 1 to 2147483647 (default 1).
	Links []linkgraph.Link `json:"links,omitempty"`

	network *linkgraph.Network
	paths   *linkgraph.Paths
	metrics *metrics
	logger  *zap.Logger

	mu       sync.Mutex
	services []Service // of both kinds

	heldMu sync.Mutex
	held   [][2]string // the running totals held (HoldCounts): service, address

	auto autoState // the auto links (autolink.go)
}

// CaddyModule returns the Caddy module information.
func (*App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "costlb",
		New: func() caddy.Module { return new(App) },
	}
}

// UnmarshalJSON decodes the app as Caddy would (an unknown field is an
// error) and names a link it refuses by its place in the config, such as
// "apps.costlb.links[1]": a link's own error cannot know its index, and
// Caddy's decode error gives no path, so without this a bad cost in a
// config of many links, or in a PATCH of one, would not say which link.
func (a *App) UnmarshalJSON(b []byte) error {
	// every field but links decodes into a as usual; the outer links
	// field hides the app's own
	type plain App
	raw := struct {
		*plain
		Links []json.RawMessage `json:"links,omitempty"`
	}{plain: (*plain)(a)}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		return err
	}
	var links []linkgraph.Link
	if raw.Links != nil {
		links = make([]linkgraph.Link, len(raw.Links))
	}
	for i, l := range raw.Links {
		if err := json.Unmarshal(l, &links[i]); err != nil {
			return fmt.Errorf("apps.costlb.links[%d]: %w", i, err)
		}
	}
	a.Links = links
	return nil
}

// Provision validates the site network and computes its path costs.
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	if a.Site == "" {
		return fmt.Errorf("costlb: missing local site: set 'site <name>' in the costlb global option (JSON: apps.costlb.site)")
	}
	n, err := newNetwork(a.Site, a.Links)
	if err != nil {
		return fmt.Errorf("costlb: %w", err)
	}
	paths, err := n.Paths(nil)
	if err != nil {
		return fmt.Errorf("costlb: %w", err)
	}
	a.network, a.paths = n, paths
	a.metrics = newMetrics(ctx.GetMetricsRegistry(), a)
	enterReload(a)
	return a.provisionAuto(ctx)
}

// Cleanup ends the reload window that started this app, if it was the
// last app of the config before (reload.go), gives back the running
// totals its services hold (history.go) and its holds on the measured
// state of its auto links (autolink.go).
func (a *App) Cleanup() error {
	leaveReload(a)
	a.releaseCounts()
	a.releaseAuto()
	return nil
}

// newNetwork builds the site network: linkgraph's rules, and a local site
// that links name when there are links (else it is most likely a typo).
func newNetwork(site string, links []linkgraph.Link) (*linkgraph.Network, error) {
	if err := checkAutoLinks(site, links); err != nil {
		return nil, err
	}
	n, err := linkgraph.New(site, links)
	if err != nil {
		return nil, err
	}
	if len(links) > 0 {
		if err := n.UnlinkedLocal(); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// Start warns, once per process, when a reload may reset connections
// (tcpmigrate_linux.go), and, once per link, of the links no service of
// this config can use (linkgraph's StrayLinks): every service of both kinds has registered
// by now, in its Provision. The admin API finds the running app through
// Caddy's active context (RunningApp).
func (a *App) Start() error {
	warnTCPMigrate(a.logger)
	var uses []linkgraph.Use
	for _, s := range a.Services() {
		uses = append(uses, a.measurableUse(s.SiteUse()))
	}
	for _, s := range a.network.StrayLinks(uses) {
		a.logger.Warn("costlb link of no use to this Caddy",
			zap.String("link", s.Link.String()),
			zap.String("reason", s.Why+"; the network may be shared with other sites, so this is a warning only"))
	}
	a.logHistoryStart()
	a.startHistory()
	a.startAuto()
	return nil
}

// Stop stops the history's sampler if this config owns it and stops
// measuring the auto links; the services stop with their modules'
// Cleanup.
func (a *App) Stop() error {
	a.stopHistory()
	a.stopAuto()
	return nil
}

// RunningApp returns the costlb app of the config Caddy is running, or nil.
// Caddy makes a config active only once it has started, so a config that
// is refused, or fails while starting, never shows here.
func RunningApp() *App {
	v, err := caddy.ActiveContext().AppIfConfigured("costlb")
	if err != nil {
		return nil
	}
	app, _ := v.(*App)
	return app
}

// LoadApp returns the config's costlb app for a module that needs it; who
// names that module in the error when there is none.
func LoadApp(ctx caddy.Context, who string) (*App, error) {
	appMod, err := ctx.AppIfConfigured("costlb")
	if errors.Is(err, caddy.ErrNotConfigured) {
		return nil, fmt.Errorf("%s: the costlb app is not configured: add the global option 'costlb { site <name> }' (JSON: apps.costlb with a site)", who)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", who, err)
	}
	return appMod.(*App), nil
}

// Network returns the site network.
func (a *App) Network() *linkgraph.Network { return a.network }

// liveCounters returns the process-wide counters worth showing: those the
// running services use and those with connections open. A refused config
// may have created counters for addresses no running service has; they
// stay out of sight.
func (a *App) liveCounters() []*costlb.Counter {
	used := make(map[*costlb.Counter]bool)
	for _, s := range a.Services() {
		for _, c := range s.HeldCounters() {
			used[c] = true
		}
	}
	var out []*costlb.Counter
	for _, c := range Counters.Counters() {
		if used[c] || c.Live() != 0 {
			out = append(out, c)
		}
	}
	return out
}

// parseGlobalOption turns the costlb global option into the costlb app.
func parseGlobalOption(d *caddyfile.Dispenser, existing any) (any, error) {
	if existing != nil {
		d.Next() // point the error at this block
		return nil, d.Err("costlb: the global option is given twice; describe the whole site network in one costlb block")
	}
	a := new(App)
	if err := a.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "costlb", Value: caddyconfig.JSON(a, nil)}, nil
}

// UnmarshalCaddyfile sets up the app from the costlb global option. Syntax:
//
//	costlb {
//		site <name>
//		link <site> <site> [<cost>|auto]
//	}
//
// site is required; a link without a cost has cost 1; a link of the local
// site with cost auto follows the round trip measured over it. The network is
// checked here too, so that caddy adapt refuses what Provision would.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	const who = "costlb"
	d.Next() // consume option name
	if d.NextArg() {
		return d.Errf("costlb: unexpected argument %q; the site network goes in a block: costlb { site <name> ... }", d.Val())
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		switch opt {
		case "site":
			args := d.RemainingArgs()
			if a.Site != "" {
				return d.Errf("costlb: site given twice (%q, then %q): a Caddy instance runs in exactly one site", a.Site, args)
			}
			if len(args) != 1 {
				return d.Errf("costlb: site takes exactly one name, got %d arguments %q", len(args), args)
			}
			a.Site = args[0]
		case "link":
			l, err := cfile.Link(d, who)
			if err != nil {
				return err
			}
			a.Links = append(a.Links, l)
		default:
			return d.Errf("costlb: unknown option %q; allowed: site <name>, link <site> <site> [<cost>|auto]", opt)
		}
		if err := cfile.NoBlock(d, who, opt); err != nil {
			return err
		}
	}
	if a.Site == "" {
		return d.Err("costlb: missing 'site <name>': the local site of this Caddy is required")
	}
	if _, err := newNetwork(a.Site, a.Links); err != nil {
		return d.Errf("costlb: %w", err)
	}
	return nil
}

// Interface guards
var (
	_ caddy.App             = (*App)(nil)
	_ caddy.Provisioner     = (*App)(nil)
	_ caddy.CleanerUpper    = (*App)(nil)
	_ caddyfile.Unmarshaler = (*App)(nil)
)
