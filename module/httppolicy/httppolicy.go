package httppolicy

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	cfile "github.com/costlb/costlb/caddyfile"
	"github.com/costlb/costlb/costlb"
	"github.com/costlb/costlb/linkgraph"
	"github.com/costlb/costlb/module"
)

func init() {
	caddy.RegisterModule(new(CostSelection))
}

// SiteUpstreams places upstreams of the reverse_proxy in a site.
type SiteUpstreams struct {
	// Site is the site the upstreams run in; it must be reachable from the
	// local site through the network's links.
	Site string `json:"site"`
	// Upstreams are upstream addresses as the reverse_proxy dials them
	// ("10.1.0.1:8080"), or hosts alone ("10.1.0.1") for every port of a
	// host. Without dynamic upstreams each must name one of the
	// reverse_proxy's static upstreams.
	Upstreams []string `json:"upstreams"`
}

// CostSelection is the cost selection policy of Caddy's reverse_proxy
// (lb_policy cost): each request goes to the available upstream with the
// lowest perceived cost = path cost from the local site to the upstream's
// site + the upstream's in-flight requests ÷ its weight, on the site network of the
// costlb app. Ties go to the lower path cost, then rotate. In-flight
// requests are Caddy's own count, shared by every reverse_proxy that uses
// the upstream; available is Caddy's own: healthy by its active and passive
// health checks and below max_requests.
type CostSelection struct {
	// Name identifies the service in the admin API, metrics and logs.
	// Default: http-<n>.
	Name string `json:"name,omitempty"`
	// Sites place upstreams in sites; an upstream no entry names runs in
	// the local site. A dynamic upstream is placed by its address, then by
	// its host alone.
	Sites []SiteUpstreams `json:"sites,omitempty"`
	// LinkCosts override the cost of links of the network for this
	// service only.
	LinkCosts []linkgraph.Link `json:"link_costs,omitempty"`
	// Weights give upstreams a weight (capacity.go); an upstream not
	// named has weight 1.
	Weights []UpstreamWeight `json:"weights,omitempty"`
	// SlowStart, when set, ramps an upstream that comes back (unhealthy
	// or at max_requests, then available again): its weight grows linearly
	// from 10% to 100% over this time. Default: off.
	SlowStart caddy.Duration `json:"slow_start,omitempty"`

	app         *module.App
	paths       *linkgraph.Paths  // at provisioning
	siteCosts   *module.SiteCosts // the path costs as they are now
	logger      *zap.Logger
	refused     prometheus.Counter
	defaultName bool
	registered  bool
	pickLog     *module.PickLog // nil unless picks are logged
	primary     *module.Primary // the service's primary site across generations

	byAddr, byHost map[string]string // site of an upstream address, of a host
	defaultMax     int               // the passive checks' unhealthy_request_count
	weights        map[string]int64  // weight by address key
	ramps          []*costlb.Ramp    // the static upstreams' ramps, held until Cleanup

	static     *poolBalancer                // the reverse_proxy's static upstreams; nil if none
	staticPool reverseproxy.UpstreamPool    // the same slice Caddy passes to Select
	current    atomic.Pointer[poolBalancer] // the pool the last request used, for the view

	mu      sync.Mutex
	dynamic []*poolBalancer           // balancers of dynamic pools seen, newest last
	totals  map[string]*atomic.Uint64 // requests sent per upstream address
}

// CaddyModule returns the Caddy module information.
func (*CostSelection) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.reverse_proxy.selection_policies.cost",
		New: func() caddy.Module { return new(CostSelection) },
	}
}

// Provision checks the policy against the site network and against the
// reverse_proxy it belongs to, places the static upstreams in their sites
// and registers the service with the costlb app.
func (p *CostSelection) Provision(ctx caddy.Context) error {
	p.logger = ctx.Logger()
	var err error
	if p.app, err = module.LoadApp(ctx, "lb_policy cost"); err != nil {
		return err
	}
	rp := enclosingProxy(ctx)
	if rp == nil {
		return fmt.Errorf("lb_policy cost: not inside a reverse_proxy handler: the cost policy places the reverse_proxy's upstreams in sites")
	}
	if p.Name == "" {
		p.Name, p.defaultName = p.app.NextName(kind, "http"), true
	}
	if err := module.CheckServiceName("lb_policy cost", p.Name); err != nil {
		return err
	}
	svc := fmt.Sprintf("lb_policy cost (service %q)", p.Name)
	if len(rp.Upstreams) == 0 && rp.DynamicUpstreamsRaw == nil {
		return fmt.Errorf("%s: the reverse_proxy has no upstreams: give it upstream addresses or dynamic upstreams", svc)
	}
	if p.siteCosts, err = p.app.SiteCosts(p.Name, p.LinkCosts); err != nil {
		return fmt.Errorf("%s: link_cost: %w", svc, err)
	}
	p.paths = p.siteCosts.Paths()
	if err := p.placeSites(rp); err != nil {
		return fmt.Errorf("%s: %w", svc, err)
	}
	if p.SlowStart < 0 {
		return fmt.Errorf("%s: slow_start %v: must be a positive duration, or 0 for no slow start (JSON: slow_start)", svc, time.Duration(p.SlowStart))
	}
	if err := p.checkWeights(rp); err != nil {
		return fmt.Errorf("%s: %w", svc, err)
	}
	p.pickLog = module.NewPickLog(p.logger, p.Name)
	if hc := rp.HealthChecks; hc != nil && hc.Passive != nil && hc.Passive.UnhealthyRequestCount > 0 {
		p.defaultMax = hc.Passive.UnhealthyRequestCount
	}
	p.totals = make(map[string]*atomic.Uint64)
	p.primary = module.HoldPrimary(p.identity(rp), p.Name, p.logger)
	p.primary.FollowCosts(p.siteCosts)
	p.siteCosts.OnChange(p.observe)
	if len(rp.Upstreams) > 0 {
		if p.static, err = p.newPoolBalancer(rp.Upstreams, true); err != nil {
			return fmt.Errorf("%s: %w", svc, err)
		}
		p.staticPool = rp.Upstreams
		p.current.Store(p.static)
	}
	p.app.SetPathCosts(p.Name, p.paths)
	go module.WatchPrimary(ctx, healthInterval(rp), p.observe)
	p.refused = p.app.NoBackend(p.Name)
	if err := p.app.Register(p); err != nil {
		return err
	}
	p.registered = true
	return nil
}

// observe notices a change of the primary site of the pool the last
// request used (the static pool until then), with or without traffic.
func (p *CostSelection) observe() {
	if pb := p.current.Load(); pb != nil {
		pb.bal.Observe()
	}
}

// healthInterval is how often the service looks for a failover without
// traffic: its active health checks' interval, else one second.
func healthInterval(rp *reverseproxy.Handler) time.Duration {
	var iv caddy.Duration
	if hc := rp.HealthChecks; hc != nil && hc.Active != nil {
		iv = hc.Active.Interval
	}
	return module.HealthPeriod(iv)
}

// enclosingProxy returns the reverse_proxy handler whose provisioning
// loads this policy, the nearest in the provisioning ancestry.
func enclosingProxy(ctx caddy.Context) *reverseproxy.Handler {
	mods := ctx.Modules()
	for i := len(mods) - 1; i >= 0; i-- {
		if h, ok := mods[i].(*reverseproxy.Handler); ok {
			return h
		}
	}
	return nil
}

// placeSites checks the static upstreams (an address given twice is
// refused: it would act as a weight) and the site entries, and indexes the
// entries by address and by host. Without dynamic upstreams, every entry
// must name static upstreams of rp.
func (p *CostSelection) placeSites(rp *reverseproxy.Handler) error {
	nw := p.app.Network()
	staticAddrs, staticHosts := map[string]bool{}, map[string]bool{}
	var dials []string
	for _, u := range rp.Upstreams {
		if staticAddrs[module.AddressKey(u.Dial)] {
			return fmt.Errorf("upstream %q is given twice: each address is one upstream; give it once, and to give it more of the requests use weight %s <n> (JSON: weights)", u.Dial, u.Dial)
		}
		staticAddrs[module.AddressKey(u.Dial)] = true
		staticHosts[upstreamHost(u.Dial)] = true
		dials = append(dials, u.Dial)
	}
	p.byAddr, p.byHost = map[string]string{}, map[string]string{}
	for i, s := range p.Sites {
		label := siteEntryLabel(s, i, len(p.Sites))
		if s.Site == "" {
			return fmt.Errorf("%s has no site: every entry needs \"site\", one of: %s", label, strings.Join(nw.Sites(), ", "))
		}
		if s.Site != p.app.Site && !nw.LocalLinked() {
			return fmt.Errorf("%s: %w", label, nw.UnlinkedLocal(s.Site))
		}
		if !nw.HasSite(s.Site) {
			return fmt.Errorf("%s: unknown site %q; sites in the network: %s", label, s.Site, strings.Join(nw.Sites(), ", "))
		}
		if r, _ := p.paths.Cost(s.Site); !r.Reachable {
			return fmt.Errorf("%s: site %q has no path from the local site %q: link it to the network", label, s.Site, p.app.Site)
		}
		if len(s.Upstreams) == 0 {
			return fmt.Errorf("site %s names no upstream: give the addresses of the upstreams in it", s.Site)
		}
		for _, up := range s.Upstreams {
			key, hostOnly, err := siteEntryKey(up)
			if err != nil {
				return fmt.Errorf("site %s: %w", s.Site, err)
			}
			index, known := p.byAddr, staticAddrs
			if hostOnly {
				index, known = p.byHost, staticHosts
			}
			if prev, dup := index[key]; dup {
				return fmt.Errorf("upstream %q is given twice (sites %q and %q): an upstream runs in one site", up, prev, s.Site)
			}
			if rp.DynamicUpstreamsRaw == nil && !known[key] {
				return fmt.Errorf("site %s: %q is not one of this reverse_proxy's upstreams (%s): a site line places the reverse_proxy's own upstreams, written as they are dialed (host:port), or a host alone", s.Site, up, strings.Join(dials, ", "))
			}
			index[key] = s.Site
		}
	}
	return nil
}

// siteEntryLabel names site entry i of n in messages as the Caddyfile
// writes it, "site west 10.1.0.1:8080"; an entry without a site by its
// upstreams, one with neither by its place.
func siteEntryLabel(s SiteUpstreams, i, n int) string {
	switch {
	case s.Site != "":
		return strings.TrimSpace("site " + module.SiteLabel(s.Site) + " " + module.AddressList(s.Upstreams))
	case len(s.Upstreams) > 0:
		return "site entry for " + module.AddressList(s.Upstreams)
	}
	return fmt.Sprintf("site entry #%d of %d", i+1, n)
}

// siteEntryKey normalises a site entry: an address ("10.1.0.1:8080") or a
// host alone ("10.1.0.1", "[::1]", "backend.internal").
func siteEntryKey(entry string) (key string, hostOnly bool, err error) {
	if strings.Contains(entry, "{") {
		return "", false, fmt.Errorf("upstream %q: placeholders are not supported: give a fixed address or host", entry)
	}
	if _, _, splitErr := net.SplitHostPort(entry); splitErr != nil && strings.Contains(splitErr.Error(), "missing port") {
		host := strings.TrimSuffix(strings.TrimPrefix(entry, "["), "]")
		if host == "" || strings.ContainsAny(host, "/ \t") {
			return "", false, fmt.Errorf("malformed upstream %q: want host:port or a host alone", entry)
		}
		return host, true, nil
	}
	if err := module.CheckDialAddress(entry); err != nil {
		return "", false, err
	}
	return module.AddressKey(entry), false, nil
}

// upstreamHost returns the host of a dial address ("" if it has none).
func upstreamHost(dial string) string {
	na, err := caddy.ParseNetworkAddress(dial)
	if err != nil {
		return ""
	}
	return na.Host
}

// siteFor returns the site of the upstream dialed at dial: by its address,
// then by its host alone, else the local site.
func (p *CostSelection) siteFor(dial string) string {
	if s, ok := p.byAddr[module.AddressKey(dial)]; ok {
		return s
	}
	if s, ok := p.byHost[upstreamHost(dial)]; ok {
		return s
	}
	return p.app.Site
}

// identity names the service the same way across config generations: by
// its name when the config gives one (as a layer4 service's), else by its
// upstreams and dynamic upstream source.
func (p *CostSelection) identity(rp *reverseproxy.Handler) string {
	keys := make([]string, 0, len(rp.Upstreams)+1)
	for _, u := range rp.Upstreams {
		keys = append(keys, module.SiteKey(p.siteFor(u.Dial), u.Dial))
	}
	if rp.DynamicUpstreamsRaw != nil {
		// sorts after the quoted keys
		keys = append(keys, "dynamic "+strconv.Quote(string(rp.DynamicUpstreamsRaw)))
	}
	return module.Identity(p.Name, p.defaultName, "http upstreams", keys)
}

// Cleanup removes the service from the costlb app and gives back its
// primary site memo.
func (p *CostSelection) Cleanup() error {
	if p.registered {
		p.app.Unregister(p)
		p.registered = false
	}
	p.primary.Release()
	p.releaseRamps()
	return nil
}

// UnmarshalCaddyfile sets up the policy from Caddyfile tokens. Syntax:
//
//	lb_policy cost [{
//		name <service name>
//		site <site> <upstream address or host...>
//		link_cost <site> <site> <cost>
//		weight <upstream> <1-1000>
//		slow_start <duration>
//	}]
//
// Upstreams that no site line names run in the local site. A site line
// names upstreams of the reverse_proxy as they are dialed (host:port), or
// a host alone for every port of it; with dynamic upstreams, it names the
// addresses or hosts those resolve to.
func (p *CostSelection) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	const who = "lb_policy cost"
	d.Next() // consume policy name
	if d.NextArg() {
		return d.Errf("lb_policy cost: unexpected argument %q; options go in a block: lb_policy cost { site <site> <upstream...> }", d.Val())
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		var err error
		switch opt {
		case "name":
			p.Name, err = cfile.Name(d, who, p.Name)
		case "site":
			args := d.RemainingArgs()
			switch {
			case len(args) == 0 || args[0] == "":
				err = d.Err("lb_policy cost: site needs a site name: site <site> <upstream...>")
			case len(args) == 1:
				err = d.Errf("lb_policy cost: site %s names no upstream: site <site> <upstream...>", args[0])
			default:
				p.Sites = append(p.Sites, SiteUpstreams{Site: args[0], Upstreams: args[1:]})
			}
		case "link_cost":
			var l linkgraph.Link
			l, err = cfile.LinkCost(d, who)
			p.LinkCosts = append(p.LinkCosts, l)
		case "weight":
			err = p.unmarshalWeight(d)
		case "slow_start":
			var dur time.Duration
			dur, err = cfile.PositiveDuration(d, who, p.SlowStart != 0)
			p.SlowStart = caddy.Duration(dur)
		default:
			err = d.Errf("lb_policy cost: unknown option %q; allowed: name, site, link_cost, weight, slow_start (reverse_proxy options such as health_uri or lb_try_duration go in the reverse_proxy block)", opt)
		}
		if err == nil {
			err = cfile.NoBlock(d, who, opt)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// Routes returns the service's routes as this Caddy offers them to its
// peers: one per site with an available upstream in the pool the last
// request used, at the path cost to that site.
func (p *CostSelection) Routes() []costlb.Route {
	pb := p.current.Load()
	if pb == nil {
		return nil
	}
	var out []costlb.Route
	for i := 0; i < pb.bal.Len(); i++ {
		if st := pb.bal.State(i); st.Available {
			out = append(out, costlb.Direct(p.app.Site, st.Site, st.PathCost))
		}
	}
	return costlb.NormalizeRoutes(out)
}

// Interface guards
var (
	_ caddy.Provisioner     = (*CostSelection)(nil)
	_ caddy.CleanerUpper    = (*CostSelection)(nil)
	_ caddyfile.Unmarshaler = (*CostSelection)(nil)
	_ reverseproxy.Selector = (*CostSelection)(nil)
)
