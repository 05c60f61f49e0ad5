package l4handler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	cfile "github.com/costlb/costlb/caddyfile"
	"github.com/costlb/costlb/costlb"
	"github.com/costlb/costlb/module"
)

// maxReadyAnswer caps what a readiness answer may weigh: a larger one is
// "not ready", and no more than one byte past it is ever read. Every
// answer a costlb_status produces fits it.
const maxReadyAnswer = module.MaxReadyAnswer

// gateways holds every readiness poller of the process, keyed by what the
// poller does (gatewayKey). A reload that keeps a gateway gets the running
// poller, with its last answer, instead of starting over: a peer's
// readiness does not flap because this Caddy reloaded. A poller stops when
// the last config that uses it is cleaned up.
var gateways = caddy.NewUsagePool()

// gatewaySpec is what a readiness poller polls and for whom.
type gatewaySpec struct {
	service, upstream, local, url string
	interval, timeout             time.Duration
	// fall and rise are how many answers in a row turn a ready gateway not
	// ready and a gateway that is not ready ready (health_fall,
	// health_rise; below 1 means 1).
	fall, rise int
	// setup is how to poll beyond the URL (TLS, headers); it is not part
	// of the key: a reload that changes it keeps the poller (pollTransport).
	setup *pollSetup
}

func (s gatewaySpec) key() string {
	return fmt.Sprintf("%q %q %q %q %d %d %d %d", s.service, s.upstream, s.local, s.url, s.interval, s.timeout, s.fall, s.rise)
}

// gateway polls the readiness URL of one gateway backend (another Caddy
// running costlb that serves the service onwards) every interval and keeps
// the answer that decides its state: the last one, unless answers against
// that state have not yet come fall (or rise) times in a row. It is shared
// through gateways.
type gateway struct {
	gatewaySpec
	client  *http.Client
	logger  *zap.Logger
	last    atomic.Pointer[readiness]
	against int // answers in a row against the state of last; run's alone
	cancel  context.CancelFunc
	done    chan struct{}

	// onward is the lowest cost among the usable routes of last, the
	// gateway's cost from its site onwards: the balancer adds it to the
	// path cost to the gateway's site on every pick.
	onward atomic.Int64
}

// readiness is one readiness answer as the local site sees it.
type readiness struct {
	// Routes are the answer's well-formed routes that do not pass through
	// the local site, cheapest first, with their costs as the gateway sees
	// them; the gateway is ready when there is at least one.
	Routes []costlb.Route
	// Reason says why the gateway is not ready ("" when it is).
	Reason string
	// Dropped says why each answered route that was not well formed was
	// left out (a bad cost, a bad site name, too many sites).
	Dropped []string
}

// wireAnswer is a readiness answer as it comes from the peer, unchecked.
type wireAnswer struct {
	Ready  bool               `json:"ready"`
	Routes []costlb.WireRoute `json:"routes"`
}

// loadGateway returns the running poller for spec, starting it if no
// config has it yet. Release it with gateways.Delete(spec.key()).
func loadGateway(spec gatewaySpec, logger *zap.Logger) (*gateway, error) {
	v, _, err := gateways.LoadOrNew(spec.key(), func() (caddy.Destructor, error) {
		return startGateway(spec, logger), nil
	})
	if err != nil {
		return nil, err
	}
	g := v.(*gateway)
	g.client.Transport.(*pollTransport).use(spec.setup)
	return g, nil
}

// startGateway starts polling at once, in the background: provisioning
// never waits for a peer.
func startGateway(spec gatewaySpec, logger *zap.Logger) *gateway {
	ctx, cancel := context.WithCancel(context.Background())
	g := &gateway{
		gatewaySpec: spec,
		logger:      logger,
		cancel:      cancel,
		done:        make(chan struct{}),
		client:      newPollClient(spec.timeout, spec.setup),
	}
	go g.run(ctx)
	return g
}

// Destruct stops polling and waits for the poller to end.
func (g *gateway) Destruct() error {
	g.cancel()
	<-g.done
	return nil
}

// Ready reports whether the last answer offered a usable route. Until the
// first answer the gateway is not ready. It is the balancer's probe: cheap
// and never blocking.
func (g *gateway) Ready() bool {
	r := g.last.Load()
	return r != nil && len(r.Routes) > 0
}

// state returns the last answer; before the first one, a "not ready" one
// that says so.
func (g *gateway) state() readiness {
	if r := g.last.Load(); r != nil {
		return *r
	}
	return readiness{Reason: "no answer yet"}
}

func (g *gateway) run(ctx context.Context) {
	defer close(g.done)
	tick := time.NewTicker(g.interval)
	defer tick.Stop()
	for {
		r := g.poll(ctx)
		if ctx.Err() != nil {
			return // stopping: what a cut-off poll saw says nothing of the peer
		}
		g.record(r)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// record keeps r and logs a change between ready and not ready. The first
// answer sets the state; after it, the state changes only once fall
// answers in a row said not ready (rise said ready), as caddy-l4's active
// checks do, so that a flapping peer neither flaps the gateway nor floods
// the log. An answer that agrees with the state replaces the last one (new
// routes, a new reason) at once.
func (g *gateway) record(r *readiness) {
	old := g.last.Load()
	ready := len(r.Routes) > 0
	if old != nil && (len(old.Routes) > 0) != ready {
		g.against++
		need := g.fall
		if ready {
			need = g.rise
		}
		if g.against < need {
			return
		}
	}
	g.against = 0
	if cost, ok := costlb.Cheapest(r.Routes); ok {
		g.onward.Store(cost) // before last: a pick that sees it ready sees its cost
	}
	g.last.Store(r)
	if old != nil && (len(old.Routes) > 0) == ready {
		return
	}
	fields := []zap.Field{
		zap.String("service", g.service),
		zap.String("upstream", g.upstream),
		zap.String("ready_url", cfile.RedactURL(g.url)),
	}
	if ready {
		g.logger.Info("costlb gateway ready", append(fields, zap.Any("routes", r.Routes))...)
		return
	}
	g.logger.Info("costlb gateway not ready", append(fields, zap.String("reason", r.Reason))...)
}

// poll asks the gateway once, within the timeout.
func (g *gateway) poll(ctx context.Context) *readiness {
	ctx, cancel := context.WithTimeout(ctx, g.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.url, nil)
	if err != nil {
		return &readiness{Reason: describePollError(err, g.timeout)}
	}
	req.Header.Set("Accept", "application/json")
	resp, err := g.client.Do(req)
	if errors.Is(err, syscall.ECONNRESET) {
		// A peer's reload resets the connections still queued on its old
		// listener (Caddy binds the new config's socket beside the old one
		// with SO_REUSEPORT, then closes the old one): a poll that met one
		// asks once more, at once, within the same timeout, so that the
		// peer's reload does not read as the peer going away.
		resp, err = g.client.Do(req)
	}
	if err != nil {
		return &readiness{Reason: describePollError(err, g.timeout)}
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &readiness{Reason: describeStatus(resp)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxReadyAnswer+1))
	if err != nil {
		return &readiness{Reason: "reading the answer: " + describePollError(err, g.timeout)}
	}
	return parseReadiness(body, g.local)
}

// parseReadiness reads a 2xx readiness answer's body.
func parseReadiness(body []byte, local string) *readiness {
	if len(body) > maxReadyAnswer {
		return &readiness{Reason: fmt.Sprintf("answer larger than %d bytes", maxReadyAnswer)}
	}
	var ans wireAnswer
	if err := json.Unmarshal(body, &ans); err != nil {
		return &readiness{Reason: "answer is not costlb readiness JSON: " + err.Error()}
	}
	if !ans.Ready {
		return &readiness{Reason: `answered "ready": false`}
	}
	routes, dropped := costlb.UsableRoutes(ans.Routes, local)
	if len(routes) == 0 {
		reason := fmt.Sprintf("no route that avoids the local site %q (%d routes answered)", local, len(ans.Routes))
		if len(dropped) > 0 {
			reason = fmt.Sprintf("no usable route (%d routes answered): %s", len(ans.Routes), strings.Join(dropped, "; "))
		}
		return &readiness{Reason: reason, Dropped: dropped}
	}
	return &readiness{Routes: routes, Dropped: dropped}
}

// checkReadyURL refuses a readiness URL costlb cannot poll.
func checkReadyURL(raw string) error {
	shown := cfile.RedactURL(raw)
	if strings.Contains(raw, "{") {
		return fmt.Errorf("ready %q: placeholders are not supported; give the gateway's URL, e.g. http://10.1.0.1:9180/ready/<service>", shown)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("ready %q: malformed URL: %w; want e.g. http://10.1.0.1:9180/ready/<service>", shown, unwrapURLError(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("ready %q: scheme %q: must be http or https", shown, u.Scheme)
	}
	if u.Host == "" {
		return fmt.Errorf("ready %q: no host; want e.g. http://10.1.0.1:9180/ready/<service>", shown)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("ready %q: port %s: must be 1-65535 (or none, for the scheme's default)", shown, p)
		}
	}
	if _, err := url.ParseRequestURI(raw); err != nil {
		return fmt.Errorf("ready %q: malformed URL: %w", shown, unwrapURLError(err))
	}
	return nil
}

// readyPeriod returns the readiness poll interval and timeout of a
// service: its active health check settings as configured, else one second
// each (module.HealthPeriod). It must run before the embedded proxy's
// Provision, which fills in caddy-l4's own defaults.
func (h *Handler) readyPeriod() (interval, timeout time.Duration) {
	var iv, to caddy.Duration
	if hc := h.HealthChecks; hc != nil && hc.Active != nil {
		iv, to = hc.Active.Interval, hc.Active.Timeout
	}
	return module.HealthPeriod(iv), module.HealthPeriod(to)
}

// Interface guard
var _ caddy.Destructor = (*gateway)(nil)
