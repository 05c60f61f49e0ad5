// Package gateway polls the readiness URL of a gateway backend: another
// Caddy running costlb that serves a service onwards. A Poller keeps the
// last answer that decides the gateway's state: whether it is ready, its
// onward cost (the cheapest usable route) and its routes. Pollers are
// shared by what they poll across config generations, so a reload does not
// reset a peer's readiness. It needs no Caddy.
package gateway

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/costlb/costlb/costlb"
)

// maxAnswer caps what a readiness answer may weigh: a larger one is "not
// ready", and no more than one byte past it is ever read. Every answer a
// costlb_status produces fits it.
const maxAnswer = costlb.MaxReadyAnswer

// Spec is what a poller polls and for whom.
type Spec struct {
	// Service and Upstream name the gateway backend in logs.
	Service, Upstream string
	// Local is the local site: a route through it is not usable.
	Local string
	// URL is the gateway's readiness URL; Shown is what logs show of it
	// (its credentials redacted).
	URL, Shown string
	// Interval is the poll period, Timeout bounds each poll.
	Interval, Timeout time.Duration
	// Fall and Rise are how many answers in a row turn a ready gateway not
	// ready and a gateway that is not ready ready (health_fall,
	// health_rise; below 1 means 1).
	Fall, Rise int
	// Setup is how to poll beyond the URL (TLS, headers); it is not part
	// of the key: a reload that changes it keeps the poller (transport).
	Setup *Setup
	// RTT, if set, takes the round trip of every answered poll (rtt.go);
	// like Setup, the latest Load's is used.
	RTT func(time.Duration)
}

func (s Spec) key() string {
	return fmt.Sprintf("%q %q %q %q %d %d %d %d", s.Service, s.Upstream, s.Local, s.URL, s.Interval, s.Timeout, s.Fall, s.Rise)
}

// Poller polls the readiness URL of one gateway backend every interval
// and keeps the answer that decides its state: the last one, unless
// answers against that state have not yet come fall (or rise) times in a
// row.
type Poller struct {
	spec    Spec
	key     string
	refs    int // holders, under pollers' lock
	client  *http.Client
	logger  *zap.Logger
	last    atomic.Pointer[Readiness]
	against int // answers in a row against the state of last; run's alone
	cancel  context.CancelFunc
	done    chan struct{}

	// rtt takes the round trip of every answered poll; nil: nobody.
	rtt atomic.Pointer[func(time.Duration)]

	// onward is the lowest cost among the usable routes of last, the
	// gateway's cost from its site onwards: the balancer adds it to the
	// path cost to the gateway's site on every pick.
	onward atomic.Int64
}

// pollers holds every poller of the process by what it does (Spec.key). A
// reload that keeps a gateway gets the running poller, with its last
// answer, instead of starting over: a peer's readiness does not flap
// because this Caddy reloaded. A poller stops when its last holder
// releases it.
var pollers = struct {
	sync.Mutex
	m map[string]*Poller
}{m: make(map[string]*Poller)}

// Load returns the running poller for spec, starting it if nobody holds
// one yet, and makes it poll with spec's setup from now on. Each Load is
// given back with one Release.
func Load(spec Spec, logger *zap.Logger) *Poller {
	k := spec.key()
	pollers.Lock()
	p := pollers.m[k]
	if p == nil {
		p = start(spec, logger)
		p.key = k
		pollers.m[k] = p
	}
	p.refs++
	pollers.Unlock()
	p.client.Transport.(*transport).use(spec.Setup)
	if spec.RTT != nil {
		p.rtt.Store(&spec.RTT)
	} else {
		p.rtt.Store(nil)
	}
	return p
}

// Release gives back one Load of p; the last one stops polling and waits
// for the poller to end. It reports whether it stopped the poller.
func (p *Poller) Release() bool {
	pollers.Lock()
	if pollers.m[p.key] != p || p.refs == 0 {
		pollers.Unlock()
		return false
	}
	p.refs--
	last := p.refs == 0
	if last {
		delete(pollers.m, p.key)
	}
	pollers.Unlock()
	if last {
		p.stop()
	}
	return last
}

// Readiness is one readiness answer as the local site sees it.
type Readiness struct {
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

// start starts polling at once, in the background: provisioning never
// waits for a peer.
func start(spec Spec, logger *zap.Logger) *Poller {
	ctx, cancel := context.WithCancel(context.Background())
	g := &Poller{
		spec:   spec,
		logger: logger,
		cancel: cancel,
		done:   make(chan struct{}),
		client: newClient(spec.Timeout, spec.Setup),
	}
	go g.run(ctx)
	return g
}

// stop stops polling and waits for the poller to end.
func (g *Poller) stop() {
	g.cancel()
	<-g.done
}

// Ready reports whether the last answer offered a usable route. Until the
// first answer the gateway is not ready. It is the balancer's probe: cheap
// and never blocking.
func (g *Poller) Ready() bool {
	r := g.last.Load()
	return r != nil && len(r.Routes) > 0
}

// Onward is the gateway's cost from its site onwards: the lowest cost of
// the routes of the last ready answer. The balancer reads it on every
// pick.
func (g *Poller) Onward() *atomic.Int64 { return &g.onward }

// Upstream is the gateway backend's address, as Spec gave it.
func (g *Poller) Upstream() string { return g.spec.Upstream }

// State returns the last answer; before the first one, a "not ready" one
// that says so.
func (g *Poller) State() Readiness {
	if r := g.last.Load(); r != nil {
		return *r
	}
	return Readiness{Reason: "no answer yet"}
}

func (g *Poller) run(ctx context.Context) {
	defer close(g.done)
	tick := time.NewTicker(g.spec.Interval)
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
func (g *Poller) record(r *Readiness) {
	old := g.last.Load()
	ready := len(r.Routes) > 0
	if old != nil && (len(old.Routes) > 0) != ready {
		g.against++
		need := g.spec.Fall
		if ready {
			need = g.spec.Rise
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
		zap.String("service", g.spec.Service),
		zap.String("upstream", g.spec.Upstream),
		zap.String("ready_url", g.spec.Shown),
	}
	if ready {
		g.logger.Info("costlb gateway ready", append(fields, zap.Any("routes", r.Routes))...)
		return
	}
	g.logger.Info("costlb gateway not ready", append(fields, zap.String("reason", r.Reason))...)
}

// poll asks the gateway once, within the timeout.
func (g *Poller) poll(ctx context.Context) *Readiness {
	ctx, cancel := context.WithTimeout(ctx, g.spec.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, g.spec.URL, nil)
	if err != nil {
		return &Readiness{Reason: describePollError(err, g.spec.Timeout)}
	}
	var timing *pollTiming
	if g.rtt.Load() != nil {
		req, timing = timePoll(req)
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
		return &Readiness{Reason: describePollError(err, g.spec.Timeout)}
	}
	defer resp.Body.Close()
	if rtt, ok := timing.roundTrip(); ok {
		if f := g.rtt.Load(); f != nil {
			(*f)(rtt)
		}
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return &Readiness{Reason: describeStatus(resp)}
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return &Readiness{Reason: "reading the answer: " + describePollError(err, g.spec.Timeout)}
	}
	return parseReadiness(body, g.spec.Local)
}

// parseReadiness reads a 2xx readiness answer's body.
func parseReadiness(body []byte, local string) *Readiness {
	if len(body) > maxAnswer {
		return &Readiness{Reason: fmt.Sprintf("answer larger than %d bytes", maxAnswer)}
	}
	var ans wireAnswer
	if err := json.Unmarshal(body, &ans); err != nil {
		return &Readiness{Reason: "answer is not costlb readiness JSON: " + err.Error()}
	}
	if !ans.Ready {
		return &Readiness{Reason: `answered "ready": false`}
	}
	routes, dropped := costlb.UsableRoutes(ans.Routes, local)
	if len(routes) == 0 {
		reason := fmt.Sprintf("no route that avoids the local site %q (%d routes answered)", local, len(ans.Routes))
		if len(dropped) > 0 {
			reason = fmt.Sprintf("no usable route (%d routes answered): %s", len(ans.Routes), strings.Join(dropped, "; "))
		}
		return &Readiness{Reason: reason, Dropped: dropped}
	}
	return &Readiness{Routes: routes, Dropped: dropped}
}
