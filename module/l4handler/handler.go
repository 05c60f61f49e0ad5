package l4handler

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"github.com/mholt/caddy-l4/layer4"
	"github.com/mholt/caddy-l4/modules/l4proxy"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	cfile "github.com/costlb/costlb/caddyfile"
	"github.com/costlb/costlb/costlb"
	"github.com/costlb/costlb/linkgraph"
	"github.com/costlb/costlb/module"
	"github.com/costlb/costlb/module/evloop"
	"github.com/costlb/costlb/module/gateway"
)

func init() {
	caddy.RegisterModule(new(Handler))
}

// Backend is one caddy-l4 upstream plus the site it runs in. Each dial
// address is its own backend.
type Backend struct {
	// Site is the site the backend runs in; it must be reachable from the
	// local site through the network's links.
	Site string `json:"site"`
	// ReadyURL, when set, makes the backend a gateway: another Caddy
	// running costlb that serves the service onwards. It is that Caddy's
	// readiness URL (its costlb_status handler's /ready/<service>), polled
	// every health_interval; the gateway is available only while its last
	// answer offered a route that does not pass through the local site.
	ReadyURL string `json:"ready,omitempty"`
	// ReadyTLS, with an https ReadyURL, is how to poll it over TLS: the
	// TLS client options of Caddy's reverse_proxy HTTP transport, with
	// their meaning (ca, client_certificate_file, server_name, ...).
	ReadyTLS *reverseproxy.TLSConfig `json:"ready_tls,omitempty"`
	// ReadyHeaders are header fields sent with every poll of ReadyURL,
	// such as Authorization. Values may hold global placeholders such as
	// {env.TOKEN}, replaced at provisioning. They are never shown or
	// logged.
	ReadyHeaders http.Header `json:"ready_headers,omitempty"`
	// Weight is what the backend can take relative to the others: a whole
	// number from 1 to 1000, default 1. Its live connections count as
	// live ÷ weight. It is kept as the config writes it and read at
	// provisioning, so that a refused value is named with its place in the
	// config; it stands in for caddy-l4's upstream weight, which its
	// weighted_round_robin policy alone reads.
	Weight json.RawMessage `json:"weight,omitempty"`
	l4proxy.Upstream
}

// Handler is the costlb layer4 handler: it proxies a connection to one
// backend of a service spread across sites, choosing the available backend
// with the lowest perceived cost = path cost + live connections ÷ weight.
//
// It takes caddy-l4's proxy options with caddy-l4's meaning and proxies
// the connection itself: the pick, retries within
// load_balancing.try_duration and passive health checks here (proxy.go);
// dialing (local_address, resolver_preference, upstream TLS, the PROXY
// protocol), the copy and the connection's end in
// module/internal/proxyconn. Active health checks are caddy-l4's, run on
// caddy-l4 upstreams that costlb provisions for them alone. Each
// connection's live count is exact.
type Handler struct {
	// Name identifies the service in the admin API, metrics and logs.
	// Default: costlb-<n>.
	Name string `json:"name,omitempty"`

	// Backends are the service's backends, each in a site.
	Backends []*Backend `json:"backends,omitempty"`

	// LinkCosts override the cost of links of the network for this
	// service only.
	LinkCosts []linkgraph.Link `json:"link_costs,omitempty"`

	// HealthChecks are caddy-l4's active and passive health checks.
	HealthChecks *l4proxy.HealthChecks `json:"health_checks,omitempty"`

	// LoadBalancing holds caddy-l4's retry settings (try_duration,
	// try_interval). A selection policy is refused: costlb is the policy.
	LoadBalancing *l4proxy.LoadBalancing `json:"load_balancing,omitempty"`

	// ProxyProtocol is the PROXY protocol version to send upstream, "v1" or "v2".
	ProxyProtocol string `json:"proxy_protocol,omitempty"`

	// DialTimeout bounds connecting to a backend, and its TLS handshake and
	// PROXY header unless the backend sets tls_timeout. A dial that times
	// out is a failed dial. Default: 3s. Zero or negative is refused.
	DialTimeout *caddy.Duration `json:"dial_timeout,omitempty"`

	// FailOnSilentClose turns on silent-close detection: a connection the
	// backend ends (FIN or RST) before it sent a byte and before the client
	// ended its side, within this time of the connection being made, is a
	// silent close; MaxSilentCloses of them in a row mark the backend down
	// for the passive checks' fail_duration, which must be set. Meant for
	// backends that accept and then drop connections (a broken process
	// behind a live socket); see the README for when not to use it.
	FailOnSilentClose caddy.Duration `json:"fail_on_silent_close,omitempty"`

	// MaxSilentCloses is how many silent closes in a row mark a backend
	// down, with FailOnSilentClose. Default: 3.
	MaxSilentCloses int `json:"max_silent_closes,omitempty"`

	// SlowStart, when set, ramps a backend that comes back (unavailable,
	// then available again by its health checks, readiness or
	// max_connections): its weight grows linearly from 10% to 100% over
	// this time. Not at start, nor on a reload, which keeps a running
	// ramp. Default: off.
	SlowStart caddy.Duration `json:"slow_start,omitempty"`

	// DataPath is how connections are copied: "auto" (the default) moves
	// a connection whose two legs are plain TCP to an event loop on
	// Linux, and copies any other in goroutines; "goroutines" copies every
	// connection in goroutines.
	DataPath string `json:"data_path,omitempty"`

	app      *module.App
	proxy    *l4proxy.Handler // caddy-l4's, provisioned for its active health checks alone
	backends []backend        // one per dial address, in the balancer's order
	bal      *costlb.Balancer
	pickLog  *module.PickLog // nil unless picks are logged
	primary  *module.Primary // the service's primary site across generations
	ctx      caddy.Context
	// the data path (proxy.go, datapath.go)
	passivePol       passivePolicy
	tryDuration      time.Duration
	tryInterval      time.Duration
	closeIfUnhealthy bool
	loops            *evloop.Pool // nil: every connection takes the goroutine path
	// readiness poll period of the gateways (health_interval, health_timeout)
	readyInterval, readyTimeout time.Duration
	// how each gateway backend of the config polls, made once per config
	// backend (ready.go)
	readySetups map[*Backend]*gateway.Setup
	paths       *linkgraph.Paths  // at provisioning
	siteCosts   *module.SiteCosts // the path costs as they are now
	logger      *zap.Logger
	refused     prometheus.Counter
	provided    bool
	released    bool // Cleanup gave back what the backends hold
	// defaultName is set when Name was given by default, not by the user.
	defaultName bool
}

// CaddyModule returns the Caddy module information.
func (*Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "layer4.handlers.costlb",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Provision checks the service against the site network, computes its path
// costs, provisions caddy-l4 upstreams for the active health checks and
// prepares the data path.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	var err error
	if h.app, err = module.LoadApp(ctx, "costlb handler"); err != nil {
		return err
	}
	if h.Name == "" {
		h.Name, h.defaultName = h.app.NextName(kind, "costlb"), true
	}
	if err := h.checkOptions(); err != nil {
		return err
	}
	svc := fmt.Sprintf("costlb service %q", h.Name)
	if h.LoadBalancing != nil && (h.LoadBalancing.SelectionPolicyRaw != nil || h.LoadBalancing.SelectionPolicy != nil) {
		return fmt.Errorf("%s: load_balancing.selection (lb_policy) is not allowed: costlb is the selection policy", svc)
	}
	if len(h.Backends) == 0 {
		return fmt.Errorf("%s: no backends: add 'backend <site> <address...>' (JSON: backends)", svc)
	}
	// read before caddy-l4's Provision fills in its own defaults (30s, 5s)
	h.readyInterval, h.readyTimeout = h.readyPeriod()
	if h.siteCosts, err = h.app.SiteCosts(h.Name, h.LinkCosts); err != nil {
		return fmt.Errorf("%s: link_cost: %w", svc, err)
	}
	h.paths = h.siteCosts.Paths()
	if h.backends, err = h.expandBackends(svc); err != nil {
		return err
	}
	h.pickLog = module.NewPickLog(h.logger, h.Name)
	// costlb's own checks of everything it dials with come first: they
	// take no shared state, and leave caddy-l4 nothing to refuse
	if err := h.provisionDataPath(ctx); err != nil {
		return fmt.Errorf("%s: %w", svc, err)
	}
	if err := h.provisionHealth(ctx); err != nil {
		return fmt.Errorf("%s: %w", svc, err)
	}
	if err := h.buildBalancer(); err != nil {
		return fmt.Errorf("%s: %w", svc, err)
	}
	h.app.SetPathCosts(h.Name, h.paths)
	h.warnSameServer()
	go module.WatchPrimary(ctx, h.readyInterval, h.bal.Observe)
	h.refused = h.app.NoBackend(h.Name)
	return h.app.Register(h)
}

// loadGateway gets the readiness poller of the gateway backend at addr,
// shared with the running config if it polls the same way; Cleanup gives
// it back.
func (h *Handler) loadGateway(addr string, b *backend) (*gateway.Poller, error) {
	setup, err := h.readySetup(b.cfg)
	if err != nil {
		return nil, err
	}
	spec := gateway.Spec{
		Service: h.Name, Upstream: addr, Local: h.app.Site, URL: b.readyURL, Shown: cfile.RedactURL(b.readyURL),
		Interval: h.readyInterval, Timeout: h.readyTimeout, Fall: 1, Rise: 1,
		Setup: setup, RTT: h.app.RTTSink(b.site),
	}
	if hc := h.HealthChecks; hc != nil && hc.Active != nil {
		spec.Fall, spec.Rise = max(hc.Active.Fall, 1), max(hc.Active.Rise, 1)
	}
	return gateway.Load(spec, h.logger), nil
}

// Routes returns the service's routes as this Caddy offers them to its
// peers: one per available plain backend's site, at the path cost to it,
// and each usable route of every available gateway, prefixed with the
// local site, at the path cost to the gateway's site plus the route's
// cost. The service is ready when there is at least one.
func (h *Handler) Routes() []costlb.Route {
	local := h.app.Site
	var out []costlb.Route
	for i := range h.backends {
		st := h.bal.State(i)
		switch {
		case !st.Available:
		case h.backends[i].gateway != nil:
			out = append(out, costlb.ViaGateway(local, st.PathCost, h.backends[i].gateway.State().Routes)...)
		default:
			out = append(out, costlb.Direct(local, st.Site, st.PathCost))
		}
	}
	return costlb.NormalizeRoutes(out)
}

// Cleanup releases the shared peer and passive health state, the
// gateways and live counters, and removes the service from the admin view.
func (h *Handler) Cleanup() error {
	if h.app != nil {
		h.app.Unregister(h)
	}
	if !h.released {
		for i := range h.backends {
			h.backends[i].release()
		}
		h.released = true
	}
	h.primary.Release()
	if h.provided {
		return h.proxy.Cleanup()
	}
	return nil
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	costlb {
//		name <service name>
//		backend <site> [<address...>] [{
//			dial <address...>  # more addresses, as caddy-l4 allows
//			ready <url> [{     # a gateway: another costlb's /ready/<service>
//				header <field> <value>
//				<reverse_proxy http transport TLS options: tls_trust_pool, tls_client_auth, ...>
//			}]
//			weight <1-1000>
//			<caddy-l4 upstream options: max_connections, tls, ...>
//		}]
//		link_cost <site> <site> <cost>
//		slow_start <duration>
//
//		# caddy-l4 proxy options, with caddy-l4's meaning:
//		health_interval <duration>
//		health_port <int>
//		health_timeout <duration>
//		health_fall <int>
//		health_rise <int>
//		close_if_unhealthy
//		fail_duration <duration>
//		max_fails <int>
//		unhealthy_connection_count <int>
//		lb_try_duration <duration>
//		lb_try_interval <duration>
//		proxy_protocol <v1|v2>
//
//		# costlb's own:
//		dial_timeout <duration>
//		fail_on_silent_close <duration>
//		max_silent_closes <int>
//		data_path <auto|goroutines>
//	}
//
// Each address of a backend, on its line or in a dial line of its block
// (at least one in all), is its own backend in that site. Options
// this block does not know go to caddy-l4's proxy parser, which parses
// them as it would in its proxy handler. lb_policy is refused: costlb is
// the selection policy.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume handler name
	head := d.Token()
	if d.NextArg() {
		return d.Errf("costlb: unexpected argument %q; options go in a block: costlb { backend <site> <address...> }", d.Val())
	}
	var proxyToks []caddyfile.Token
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		var err error
		switch opt {
		case "backend":
			err = h.unmarshalBackend(d)
		case "name", "link_cost", "dial_timeout", "fail_on_silent_close", "max_silent_closes", "data_path", "slow_start":
			if err = h.unmarshalOption(d); err == nil {
				err = cfile.NoBlock(d, "costlb", opt)
			}
		case "ready":
			err = d.Err("costlb: ready goes inside a backend block: backend <site> <address> { ready <url> }")
		case "lb_policy":
			err = d.Err("costlb: lb_policy is not allowed inside costlb: costlb is the selection policy (lowest path cost + live connections)")
		case "upstream":
			err = d.Err("costlb: use 'backend <site> <address...>' instead of 'upstream': every backend needs a site")
		case "proxy_protocol":
			// caddy-l4 reads a missing version as the option's own name
			if d.CountRemainingArgs() != 1 {
				err = d.Errf("costlb: proxy_protocol takes one of v1, v2; got %q", d.RemainingArgs())
			}
			proxyToks = append(proxyToks, d.NextSegment()...)
		default:
			proxyToks = append(proxyToks, d.NextSegment()...)
		}
		if err != nil {
			return err
		}
	}
	if err := checkExplicitDurations(proxyToks); err != nil {
		return err
	}
	p, err := cfile.ProxyOptions("costlb", head, proxyToks, handlerOptions)
	h.HealthChecks, h.LoadBalancing, h.ProxyProtocol = p.HealthChecks, p.LoadBalancing, p.ProxyProtocol
	return err
}

// handlerOptions is what a costlb block takes, for an unknown option.
const handlerOptions = "name, backend, link_cost, dial_timeout, fail_on_silent_close, max_silent_closes, data_path, slow_start, " +
	"and caddy-l4's proxy options (health_interval, health_timeout, fail_duration, max_fails, lb_try_duration, proxy_protocol, ...)"

// unmarshalBackend adds the backends of the backend line at d: one per
// address, all in the line's site, with the line's options.
func (h *Handler) unmarshalBackend(d *caddyfile.Dispenser) error {
	site, ready, u, weight, err := cfile.Backend(d, "costlb")
	if err != nil {
		return err
	}
	for _, addr := range u.Dial {
		one := u
		one.Dial = []string{addr}
		h.Backends = append(h.Backends, &Backend{Site: site, ReadyURL: ready.URL, ReadyTLS: copyTLS(ready.TLS), ReadyHeaders: ready.Header, Weight: weight, Upstream: one})
	}
	return nil
}

// unmarshalOption sets the costlb option at d other than backend.
func (h *Handler) unmarshalOption(d *caddyfile.Dispenser) error {
	const who = "costlb"
	var err error
	switch d.Val() {
	case "name":
		h.Name, err = cfile.Name(d, who, h.Name)
	case "link_cost":
		var l linkgraph.Link
		l, err = cfile.LinkCost(d, who)
		h.LinkCosts = append(h.LinkCosts, l)
	case "slow_start":
		var dur time.Duration
		dur, err = cfile.PositiveDuration(d, who, h.SlowStart != 0)
		h.SlowStart = caddy.Duration(dur)
	case "dial_timeout":
		var dur time.Duration
		dur, err = cfile.PositiveDuration(d, who, h.DialTimeout != nil)
		h.DialTimeout = (*caddy.Duration)(&dur)
	case "fail_on_silent_close":
		var dur time.Duration
		dur, err = cfile.PositiveDuration(d, who, h.FailOnSilentClose != 0)
		h.FailOnSilentClose = caddy.Duration(dur)
	case "max_silent_closes":
		h.MaxSilentCloses, err = cfile.PositiveInt(d, who, h.MaxSilentCloses != 0)
	case "data_path":
		args := d.RemainingArgs()
		switch {
		case len(args) != 1:
			err = d.Errf("%s: data_path takes one value, got %d arguments %q", who, len(args), args)
		case h.DataPath != "":
			err = d.Errf("%s: data_path given twice", who)
		default:
			if err = checkDataPath(args[0]); err != nil {
				err = d.Errf("%s: %v", who, err)
			}
			h.DataPath = args[0]
		}
	}
	return err
}

// Interface guards
var (
	_ caddy.Provisioner     = (*Handler)(nil)
	_ caddy.CleanerUpper    = (*Handler)(nil)
	_ caddyfile.Unmarshaler = (*Handler)(nil)
	_ layer4.NextHandler    = (*Handler)(nil)
)
