package module

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/mholt/caddy-l4/layer4"
	"github.com/mholt/caddy-l4/modules/l4proxy"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	cfile "github.com/costlb/costlb/caddyfile"
	"github.com/costlb/costlb/costlb"
	"github.com/costlb/costlb/linkgraph"
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
	// Ready, when set, makes the backend a gateway: another Caddy running
	// costlb that serves the service onwards. It is that Caddy's readiness
	// URL (its costlb_status handler's /ready/<service>), polled every
	// health_interval; the gateway is available only while its last answer
	// offered a route that does not pass through the local site.
	Ready string `json:"ready,omitempty"`
	l4proxy.Upstream
}

// Handler is the costlb layer4 handler: it proxies a connection to one
// backend of a service spread across sites, choosing the available backend
// with the lowest perceived cost = path cost + live connections.
//
// It takes caddy-l4's proxy options with caddy-l4's meaning and proxies
// the connection itself (proxy.go): dialing with local_address,
// resolver_preference, upstream TLS and the PROXY protocol, retries within
// load_balancing.try_duration, passive health checks and the copy loop.
// Active health checks are caddy-l4's, run on caddy-l4 upstreams that
// costlb provisions for them alone. Each connection's live count is exact.
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

	app        *App
	proxy      *l4proxy.Handler // caddy-l4's, provisioned for its active health checks alone
	sel        *selector
	gws        []*gateway        // per backend index: its readiness poller, nil if not a gateway
	gwKeys     []string          // the gateways this handler holds in the pool
	counters   []*costlb.Counter // the live counters it holds
	primary    *primaryMemo      // the service's primary site across generations
	primaryKey string            // its key in primaries; "" until loaded
	ctx        caddy.Context
	// the data path (proxy.go); targets are per backend index, as sel.ups
	targets          []target
	passivePol       passivePolicy
	passiveKeys      []string // passive states this handler holds
	tryDuration      time.Duration
	tryInterval      time.Duration
	closeIfUnhealthy bool
	// readiness poll period of the gateways (health_interval, health_timeout)
	readyInterval, readyTimeout time.Duration
	paths                       *linkgraph.Paths
	logger                      *zap.Logger
	refused                     prometheus.Counter
	provided                    bool
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
	if h.app, err = loadApp(ctx, "costlb handler"); err != nil {
		return err
	}
	if h.Name == "" {
		h.Name, h.defaultName = nextName(h.app, &h.app.services, "costlb"), true
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
	h.paths, err = h.app.network.Paths(h.LinkCosts)
	if err != nil {
		return fmt.Errorf("%s: link_cost: %w", svc, err)
	}

	bes, err := h.expandBackends(svc)
	if err != nil {
		return err
	}
	ups := make(l4proxy.UpstreamPool, len(bes))
	for i := range bes {
		ups[i] = bes[i].up
	}

	// Caddy's log levels change only with a reload: decide once whether
	// picks are logged, so the pick path never consults the logger.
	h.sel = &selector{h: h, ups: ups, debug: h.logger.Core().Enabled(zapcore.DebugLevel)}
	// caddy-l4's proxy, never called to proxy: it validates the upstream
	// and PROXY protocol options, keeps the health state shared by address
	// and runs the active health checks. Passive checks are costlb's.
	h.proxy = &l4proxy.Handler{
		Upstreams:     ups,
		HealthChecks:  activeOnly(h.HealthChecks),
		ProxyProtocol: h.ProxyProtocol,
	}
	tlsCfgs := snapshotTLS(ups) // before caddy-l4 loads (and so clears) their modules
	if err := h.proxy.Provision(ctx); err != nil {
		releaseProvisioned(ups, err)
		return fmt.Errorf("%s: %v", svc, err)
	}
	h.provided = true
	if err := h.provisionDataPath(ctx, ups, tlsCfgs); err != nil {
		return fmt.Errorf("%s: %v", svc, err)
	}

	if err := h.buildBalancer(bes); err != nil {
		return fmt.Errorf("%s: %v", svc, err)
	}
	for _, r := range h.paths.Costs() {
		if r.Reachable {
			h.app.metrics.pathCost.WithLabelValues(h.Name, r.Site).Set(float64(r.Cost))
		}
	}
	h.warnSameServer(ups)
	go watchPrimary(ctx, h.readyInterval, h.sel.bal.Observe)
	h.refused = h.app.metrics.noBackend.WithLabelValues(h.Name)
	return registerService(h.app, &h.app.services, h)
}

// counter gets the process-wide live counter of addr and holds it until
// Cleanup.
func (h *Handler) counter(addr string) *costlb.Counter {
	c := counters.Counter(counterKey(addr))
	h.counters = append(h.counters, c)
	return c
}

// loadGateway gets the readiness poller of the gateway backend at addr,
// shared with the running config if it polls the same way, and holds it
// until Cleanup.
func (h *Handler) loadGateway(addr, readyURL string) (*gateway, error) {
	spec := gatewaySpec{
		service: h.Name, upstream: addr, local: h.app.Site, url: readyURL,
		interval: h.readyInterval, timeout: h.readyTimeout,
	}
	g, err := loadGateway(spec, h.logger)
	if err != nil {
		return nil, err
	}
	h.gwKeys = append(h.gwKeys, spec.key())
	return g, nil
}

// routes returns the service's routes as this Caddy offers them to its
// peers: one per available plain backend's site, and each usable route of
// every available gateway, prefixed with the local site. The service is
// ready when there is at least one.
func (h *Handler) routes() [][]string {
	local := h.app.Site
	var out [][]string
	for i := 0; i < h.sel.bal.Len(); i++ {
		st := h.sel.bal.State(i)
		switch {
		case !st.Available:
		case h.gws[i] != nil:
			out = append(out, costlb.ViaGateway(local, h.gws[i].state().Routes)...)
		default:
			out = append(out, costlb.Direct(local, st.Site))
		}
	}
	return costlb.NormalizeRoutes(out)
}

// releaseProvisioned gives back the shared peer entries that a failed
// provisioning of the embedded proxy took. caddy-l4 v0.1.2 provisions the
// upstreams in order, reports a failure as "upstream N: ...", and can fail
// before storing upstream N's peer only for a bad resolver_preference or
// address, which Provision refuses before calling it: so upstreams 0 to N
// hold entries. Its other errors come before any upstream. Releasing more
// would take entries from the running config, which shares them.
func releaseProvisioned(ups l4proxy.UpstreamPool, err error) {
	var n int
	if _, scanErr := fmt.Sscanf(err.Error(), "upstream %d:", &n); scanErr != nil || n < 0 || n >= len(ups) {
		return
	}
	_ = (&l4proxy.Handler{Upstreams: ups[:n+1]}).Cleanup()
}

// checkDialAddress refuses addresses costlb cannot count per address.
func checkDialAddress(addr string) error {
	if strings.Contains(addr, "{") {
		return fmt.Errorf("address %q: placeholders are not supported: costlb counts live connections per fixed address", addr)
	}
	na, err := caddy.ParseNetworkAddress(addr)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) {
			return fmt.Errorf("malformed address %q: port %q must be 1-65535; want host:port", addr, ne.Num)
		}
		return fmt.Errorf("malformed address %q: %v; want host:port", addr, err)
	}
	if na.PortRangeSize() != 1 {
		return fmt.Errorf("address %q: port ranges are not supported; give one port", addr)
	}
	if !na.IsUnixNetwork() && na.StartPort == 0 {
		if strings.HasSuffix(addr, ":0") {
			return fmt.Errorf("malformed address %q: port 0: must be 1-65535; want host:port", addr)
		}
		return fmt.Errorf("malformed address %q: missing port; want host:port", addr)
	}
	return nil
}

// counterKey normalises a dial address so that "127.0.0.1:80" and
// "tcp/127.0.0.1:80" share one live count.
func counterKey(addr string) string {
	na, err := caddy.ParseNetworkAddress(addr)
	if err != nil {
		return addr
	}
	return na.String()
}

// Cleanup releases the shared peer and passive health state and removes
// the service from the admin view.
func (h *Handler) Cleanup() error {
	if h.app != nil {
		unregisterService(h.app, &h.app.services, h)
	}
	h.releaseDataPath()
	for _, k := range h.gwKeys {
		_, _ = gateways.Delete(k)
	}
	h.gwKeys = nil
	if h.primaryKey != "" {
		_, _ = primaries.Delete(h.primaryKey)
		h.primaryKey = ""
	}
	for _, c := range h.counters {
		counters.Release(c)
	}
	h.counters = nil
	if h.provided {
		return h.proxy.Cleanup()
	}
	return nil
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	costlb {
//		name <service name>
//		backend <site> <address...> [{
//			ready <url>    # a gateway: another costlb's /ready/<service>
//			<caddy-l4 upstream options: max_connections, tls, ...>
//		}]
//		link_cost <site> <site> <cost>
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
//	}
//
// Each address of a backend line is its own backend in that site.
// lb_policy is refused: costlb is the selection policy.
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	p, err := cfile.ParseHandler(d)
	if err != nil {
		return err
	}
	h.Name = p.Name
	h.LinkCosts = p.LinkCosts
	for _, b := range p.Backends {
		h.Backends = append(h.Backends, &Backend{Site: b.Site, Ready: b.Ready, Upstream: b.Upstream})
	}
	h.HealthChecks = p.Proxy.HealthChecks
	h.LoadBalancing = p.Proxy.LoadBalancing
	h.ProxyProtocol = p.Proxy.ProxyProtocol
	if p.DialTimeout != 0 {
		dt := caddy.Duration(p.DialTimeout)
		h.DialTimeout = &dt
	}
	h.FailOnSilentClose = caddy.Duration(p.FailOnSilentClose)
	h.MaxSilentCloses = p.MaxSilentCloses
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner     = (*Handler)(nil)
	_ caddy.CleanerUpper    = (*Handler)(nil)
	_ caddyfile.Unmarshaler = (*Handler)(nil)
	_ layer4.NextHandler    = (*Handler)(nil)
)
