package l4handler

import (
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/costlb/costlb/module/internal/proxyconn"
)

// Passive health checks are costlb's own, with caddy-l4's documented
// meaning: a failed connection to a backend (its dial, TLS handshake or
// PROXY header failed, or the dial timed out) is remembered for
// fail_duration, and a backend with max_fails (default 1) failures
// remembered is down. unhealthy_connection_count caps the backend's open
// connections, read from costlb's exact live counts (see Provision).
//
// Beyond caddy-l4, opt-in outlier detection for backends that accept and
// then close at once: with fail_on_silent_close set, a connection the
// backend ends (FIN or RST) before it sent a byte and before the client
// ended its side, within that time of the connection being made, is a
// silent close; max_silent_closes of them in a row (no connection in
// between on which the backend sent something) mark the backend down for
// fail_duration.

// passiveState is the passive health of one backend address. Like the live
// counters and caddy-l4's peers, it is shared by every service and config
// generation that dials the address, so a reload keeps it.
type passiveState struct {
	fails     atomic.Int32 // failures still remembered
	silentRun atomic.Int32 // silent closes in a row
	downUntil atomic.Int64 // silent-close ejection end, Unix ns; 0: none

	// the reload hold (reloadhold.go)
	holdEpoch atomic.Uint64 // held up while this reload window is open; 0: not
	holdUntil atomic.Int64  // held up until then, Unix ns; 0: not

	mu    sync.Mutex
	conns map[aborter]struct{} // open proxied connections, with close_if_unhealthy
}

// aborter is an open proxied connection, on either engine.
type aborter = proxyconn.Aborter

// Destruct is a no-op; it makes passiveState storable in a caddy.UsagePool.
func (*passiveState) Destruct() error { return nil }

// passiveStates holds the passive state of the addresses in use, with one
// reference per service (of any config generation) using the address.
var passiveStates = caddy.NewUsagePool()

// loadPassive returns the passive state of the address key, taking a
// reference that Cleanup gives back.
func loadPassive(key string) *passiveState {
	v, _, _ := passiveStates.LoadOrNew(key, func() (caddy.Destructor, error) { return new(passiveState), nil })
	return v.(*passiveState)
}

// passivePolicy is a service's passive health check settings.
type passivePolicy struct {
	failDuration time.Duration // 0: failures are not remembered
	maxFails     int32
	silentWithin time.Duration // fail_on_silent_close; 0: off
	maxSilent    int32         // max_silent_closes
}

// defaultMaxSilentCloses is max_silent_closes when not set.
const defaultMaxSilentCloses = 3

// newPassivePolicy validates costlb's own passive options and returns the
// service's passive policy.
func (h *Handler) newPassivePolicy() (passivePolicy, error) {
	var p passivePolicy
	// fail_duration, max_fails and unhealthy_connection_count are
	// caddy-l4's options; values caddy-l4 accepts keep caddy-l4's meaning
	if hc := h.HealthChecks; hc != nil && hc.Passive != nil {
		p.failDuration, p.maxFails = time.Duration(hc.Passive.FailDuration), int32(min(hc.Passive.MaxFails, 1<<30))
		if p.failDuration > 0 && p.maxFails == 0 {
			p.maxFails = 1 // caddy-l4's default
		}
	}
	if h.FailOnSilentClose < 0 {
		return p, fmt.Errorf("fail_on_silent_close %v: must be positive (or unset: off)", time.Duration(h.FailOnSilentClose))
	}
	if h.MaxSilentCloses < 0 {
		return p, fmt.Errorf("max_silent_closes %d: must be 1 or more", h.MaxSilentCloses)
	}
	if h.MaxSilentCloses > 0 && h.FailOnSilentClose == 0 {
		return p, fmt.Errorf("max_silent_closes %d without fail_on_silent_close: set fail_on_silent_close <duration> to turn silent-close detection on", h.MaxSilentCloses)
	}
	if h.FailOnSilentClose > 0 {
		if p.failDuration <= 0 {
			return p, fmt.Errorf("fail_on_silent_close needs fail_duration: how long a backend that closes silently stays down")
		}
		p.silentWithin, p.maxSilent = time.Duration(h.FailOnSilentClose), int32(min(h.MaxSilentCloses, 1<<30))
		if p.maxSilent == 0 {
			p.maxSilent = defaultMaxSilentCloses
		}
	}
	return p, nil
}

// healthy reports whether the passive checks let the backend take
// connections. It is on the pick path: atomic loads, and a clock read only
// while a silent-close ejection is recorded.
func (p *passivePolicy) healthy(s *passiveState) bool {
	if p.maxFails > 0 && s.fails.Load() >= p.maxFails {
		return false
	}
	// an ejection for silent closes holds for the services that look for
	// them, as max_fails holds for the services that set it
	if until := s.downUntil.Load(); until != 0 && p.silentWithin > 0 {
		if time.Now().UnixNano() < until {
			return false
		}
		s.downUntil.CompareAndSwap(until, 0)
	}
	return true
}

// fail remembers one failed connection for fail_duration.
func (p *passivePolicy) fail(s *passiveState) {
	if p.failDuration <= 0 {
		return
	}
	s.fails.Add(1)
	time.AfterFunc(p.failDuration, func() { s.fails.Add(-1) })
}

// observe takes the outcome of a proxied connection into the silent-close
// detection: silent is true when the backend ended it before sending a
// byte (and before the client ended), after lasting the given time.
func (p *passivePolicy) observe(s *passiveState, sentByBackend bool, backendFirst bool, lasted time.Duration) {
	if p.silentWithin <= 0 {
		return
	}
	switch {
	case sentByBackend:
		if s.silentRun.Load() != 0 {
			s.silentRun.Store(0)
		}
	case backendFirst && lasted <= p.silentWithin:
		if s.silentRun.Add(1) >= p.maxSilent {
			s.silentRun.Store(0)
			s.downUntil.Store(time.Now().Add(p.failDuration).UnixNano())
		}
	}
}

// Track records an open proxied connection to the address, for
// close_if_unhealthy.
func (s *passiveState) Track(c aborter) {
	s.mu.Lock()
	if s.conns == nil {
		s.conns = make(map[aborter]struct{})
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
}

// Untrack forgets a proxied connection that ended.
func (s *passiveState) Untrack(c aborter) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// closeConns ends every tracked connection to the address, both sides.
func (s *passiveState) closeConns() {
	s.mu.Lock()
	open := make([]aborter, 0, len(s.conns))
	for c := range s.conns {
		open = append(open, c)
	}
	s.mu.Unlock()
	for _, c := range open {
		c.Abort()
	}
}

// closeUnhealthy is close_if_unhealthy: it closes the open connections of
// a backend when caddy-l4's active health checks mark it down, as
// caddy-l4's proxy does. caddy-l4 does it from its checker, on the
// connections its own proxy registered with its peers; costlb's proxy
// registers its connections with its own state, so it watches the health
// caddy-l4 keeps instead (a few atomic loads every tick) until the config
// stops. Connections of every config to the address are closed, as
// caddy-l4 shares its peers across configs too.
func (h *Handler) closeUnhealthy(ctx caddy.Context) {
	period := closeUnhealthyTick
	if iv := time.Duration(h.HealthChecks.Active.Interval) / 2; iv > 0 && iv < period {
		period = iv
	}
	was := make([]bool, len(h.backends))
	for i := range h.backends {
		was[i] = h.backends[i].activeHealthy()
	}
	ticker := time.NewTicker(period)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-ticker.C:
		}
		for i := range h.backends {
			b := &h.backends[i]
			ok := b.activeHealthy()
			if was[i] && !ok {
				b.passive.closeConns()
			}
			was[i] = ok
		}
	}
}

// closeUnhealthyTick is how often close_if_unhealthy looks at the health
// caddy-l4's checker keeps, at most.
const closeUnhealthyTick = 100 * time.Millisecond
