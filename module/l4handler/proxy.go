package l4handler

import (
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/mholt/caddy-l4/layer4"
	"github.com/mholt/caddy-l4/modules/l4proxy"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/costlb/costlb/costlb"
	"github.com/costlb/costlb/module"
	"github.com/costlb/costlb/module/internal/proxyconn"
)

// Handle proxies the connection to the backend with the lowest perceived
// cost. The connection is counted on the chosen backend from the pick to
// the end of the proxied connection; a failed dial's count is released
// before the next try (within lb_try_duration, every lb_try_interval).
// Once dialed, the connection is proxyconn's, which ends it and releases
// its count.
func (h *Handler) Handle(down *layer4.Connection, _ layer4.Handler) (err error) {
	var t costlb.Ticket
	defer func() {
		// deferred, so that even a panic releases the count. Counted as
		// refused only if the last try met no backend: a connection whose
		// retries ended on a failed dial had one.
		if errors.Is(err, errNoUpstreams) {
			h.refused.Inc()
		}
		t.Release()
	}()
	growStack()
	client := l4Client{down}
	up, i, err := h.connect(client, &t)
	if err != nil {
		return err
	}
	b := &h.backends[i]
	b.opened.Inc()
	proxyconn.Run(h.loops, client, up, &b.conns, &t)
	return nil
}

// growStack makes room on the calling goroutine's stack for the pick, the
// dial and the copy loop at once, while few frames are on it.
//
// Handle runs on caddy-l4's goroutine of the connection, new for each
// connection with a small stack that caddy-l4's own frames half fill. The
// pick and the dial below always outgrow it, and Go grows a stack by
// copying it, at a cost that goes with the frames on it: about 13 at the
// pick, 7 here. Growing here, to the same 8 KiB it would reach anyway,
// halves the cost of the copy (callgrind, 2000 churn connections: 23.6k
// instructions per connection in stack copies before, 13.5k after).
//
//go:noinline
func growStack() {
	var room [stackRoom]byte
	touch(room[:])
}

// stackRoom is the frame growStack takes: with what the goroutine holds
// already, more than a 4 KiB stack has, less than an 8 KiB one.
const stackRoom = 3 << 10

// touch uses b, so that growStack's frame is not optimized away.
//
//go:noinline
func touch(b []byte) { b[0] = 1 }

// pick chooses the backend with the lowest perceived cost, counts the
// connection holding t on it and returns its index, or -1 if none is
// available.
func (h *Handler) pick(t *costlb.Ticket) int {
	return module.Pick(h.bal, t, h.pickLog)
}

// connect picks a backend and dials it, trying again within
// lb_try_duration when no backend is available or the dial fails (a
// failed dial is a passive health check failure). It returns the
// connection and the backend's index, the connection counted on it.
func (h *Handler) connect(down l4Client, t *costlb.Ticket) (net.Conn, int, error) {
	var end time.Time
	if h.tryDuration > 0 {
		end = time.Now().Add(h.tryDuration)
	}
	var lastErr error
	for try := 0; ; try++ {
		if try > 0 && !h.retryWait(t, end) {
			return nil, -1, lastErr
		}
		i := h.pick(t)
		if i < 0 {
			lastErr = errNoUpstreams
			continue
		}
		b := &h.backends[i]
		up, err := b.dialer.Dial(down, end)
		if err == nil {
			return up, i, nil
		}
		if !reloadReset(err) {
			h.passivePol.fail(b.passive)
		}
		b.counts.FailedDials.Add(1)
		if ce := h.logger.Check(zap.DebugLevel, "dial upstream failed"); ce != nil {
			ce.Write(zap.String("service", h.Name), zap.String("upstream", b.addr()), zap.Error(err))
		}
		lastErr = err
	}
}

// retryWait releases the count of the failed try and waits lb_try_interval,
// not past end. It reports false, with nothing waited, when there is no
// time left for another try (or none was configured), and false if the
// config stopped meanwhile.
func (h *Handler) retryWait(t *costlb.Ticket, end time.Time) bool {
	if end.IsZero() {
		return false
	}
	left := time.Until(end)
	if left <= 0 {
		return false
	}
	t.Release()
	wait := min(h.tryInterval, left)
	if wait <= 0 {
		return true
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-timer.C:
		return time.Now().Before(end)
	case <-h.ctx.Done():
		return false
	}
}

// provisionDataPath checks and prepares what costlb proxies with: the
// dialers of the backends, their passive health state and metrics,
// retries and the PROXY protocol.
func (h *Handler) provisionDataPath(ctx caddy.Context) error {
	h.ctx = ctx
	dt := defaultDialTimeout
	if h.DialTimeout != nil {
		if *h.DialTimeout <= 0 {
			return fmt.Errorf("dial_timeout %v: must be positive (default %v)", time.Duration(*h.DialTimeout), defaultDialTimeout)
		}
		dt = time.Duration(*h.DialTimeout)
	}
	var err error
	if h.passivePol, err = h.newPassivePolicy(); err != nil {
		return err
	}
	if h.LoadBalancing != nil {
		h.tryDuration, h.tryInterval = time.Duration(h.LoadBalancing.TryDuration), time.Duration(h.LoadBalancing.TryInterval)
	}
	if h.tryDuration > 0 && h.tryInterval == 0 {
		h.tryInterval = 250 * time.Millisecond // caddy-l4's default
	}
	var ppv byte
	switch h.ProxyProtocol {
	case "":
	case "v1":
		ppv = 1
	case "v2":
		ppv = 2
	default:
		return fmt.Errorf("proxy_protocol %q: must be \"v1\" or \"v2\" (or not set, for none)", h.ProxyProtocol)
	}
	if err := checkDataPath(h.DataPath); err != nil {
		return err
	}
	// the process's loops start with the first config that may use them
	if h.DataPath != dataPathGoroutines {
		h.loops = loopPool(h.logger)
	}
	h.closeIfUnhealthy = h.HealthChecks != nil && h.HealthChecks.Active != nil && h.HealthChecks.Active.CloseIfUnhealthy
	m := newL4ProxyMetrics(ctx.GetMetricsRegistry())
	for i := range h.backends {
		b := &h.backends[i]
		if b.dialer, err = newDialer(ctx, b.up, ppv, dt, h.app.RTTSink(b.site)); err != nil {
			return err
		}
		b.passive = loadPassive(module.AddressKey(b.addr()))
		b.counts = h.app.HoldCounts(h.Name, b.addr())
		b.opened = m.opened.WithLabelValues(b.up.String())
		b.conns = h.connsOf(b, m.active.WithLabelValues(b.up.String()))
	}
	return nil
}

// connsOf returns what the connections to b report to as they end:
// caddy-l4's active gauge, close_if_unhealthy's tracking and silent-close
// detection, each only when configured.
func (h *Handler) connsOf(b *backend, active prometheus.Gauge) proxyconn.Backend {
	c := proxyconn.Backend{Active: active, Counts: b.counts}
	if h.closeIfUnhealthy {
		c.Watch = b.passive
	}
	if pol, st := &h.passivePol, b.passive; pol.silentWithin > 0 {
		c.Ended = func(r proxyconn.Result, lasted time.Duration) {
			pol.observe(st, r.ToClient > 0, r.First == proxyconn.SideBackend, lasted)
		}
	}
	if h.loops != nil {
		logger, name := h.logger, h.Name
		c.LoopRefused = func(err error) {
			if ce := logger.Check(zap.DebugLevel, "event loop refused a connection; it takes the goroutine copy loop"); ce != nil {
				ce.Write(zap.String("service", name), zap.Error(err))
			}
		}
	}
	return c
}

// provisionHealth provisions caddy-l4's proxy, never called to proxy, for
// its active health checks alone: it keeps the health state shared by
// address across configs and runs the checks. It gets copies of ups that
// keep what a check dials with (address, local_address,
// resolver_preference) and no TLS, which costlb's dialers hold, so that
// after costlb's own checks (provisionDataPath, expandBackends) caddy-l4
// v0.1.2 has nothing left to refuse once it has taken shared peer entries.
// Were a later caddy-l4 to refuse anyway, the entries it took are left to
// it rather than guessed at: an entry left over only keeps an address's
// health state, while releasing one the running config holds would reset
// that config's.
func (h *Handler) provisionHealth(ctx caddy.Context) error {
	checked := make(l4proxy.UpstreamPool, len(h.backends))
	for i := range h.backends {
		u := h.backends[i].up
		checked[i] = &l4proxy.Upstream{Dial: u.Dial, LocalAddrs: u.LocalAddrs, ResolverPreference: u.ResolverPreference}
		h.backends[i].checked = checked[i]
	}
	h.proxy = &l4proxy.Handler{Upstreams: checked, HealthChecks: activeOnly(h.HealthChecks)}
	if err := h.proxy.Provision(ctx); err != nil {
		return err
	}
	h.provided = true
	if h.closeIfUnhealthy {
		go h.closeUnhealthy(ctx)
	}
	return nil
}

// backendHealthy returns the health probe of b: caddy-l4's active health
// checks, read through the linkname and judged around reloads
// (reloadhold.go), and costlb's passive ones.
//
// It runs for every backend on every pick, so it is built for the policy:
// the closure holds what it reads (all fixed by Provision) and calls
// nothing it does not need; without passive checks it leaves them out.
// activeHealthy is its active half, for callers off the pick path.
func (h *Handler) backendHealthy(b *backend) func() bool {
	u, st, pol := b.checked, b.passive, h.passivePol
	if pol.maxFails == 0 && pol.silentWithin == 0 {
		return func() bool { return upstreamHealthy(u) || st.held() }
	}
	return func() bool { return (upstreamHealthy(u) || st.held()) && pol.healthy(st) }
}

// maxConns returns the live connection cap of u: max_connections, or the
// passive checks' unhealthy_connection_count when that is not set (what it
// means in caddy-l4), on costlb's exact counts.
func (h *Handler) maxConns(u *l4proxy.Upstream) int64 {
	if u.MaxConnections == 0 && h.HealthChecks != nil && h.HealthChecks.Passive != nil {
		return int64(h.HealthChecks.Passive.UnhealthyConnectionCount)
	}
	return int64(u.MaxConnections)
}

// activeOnly returns the health checks to give caddy-l4: the active ones
// alone, as passive checks are costlb's.
func activeOnly(hc *l4proxy.HealthChecks) *l4proxy.HealthChecks {
	if hc == nil || hc.Active == nil {
		return nil
	}
	return &l4proxy.HealthChecks{Active: hc.Active}
}
