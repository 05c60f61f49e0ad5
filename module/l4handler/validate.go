package l4handler

import (
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/costlb/costlb/module"
)

// checkOptions refuses what the JSON decoder lets through and the proxy
// would misuse: a service name too long to show, and negative durations.
// It runs in Provision, so that JSON, caddy validate and POST /load refuse
// alike.
func (h *Handler) checkOptions() error {
	if err := module.CheckServiceName("costlb", h.Name); err != nil {
		return err
	}
	return errors.Join(h.checkDurations(), h.checkCounts())
}

// checkCounts refuses the health check numbers caddy-l4 takes as given
// and would misuse: a negative max_fails or unhealthy_connection_count
// would silently turn the check off, a negative health_fall or
// health_rise means nothing (caddy-l4 reads it as 1), and a health_port
// outside 1-65535 would check another port than the one named.
func (h *Handler) checkCounts() error {
	hc := h.HealthChecks
	if hc == nil {
		return nil
	}
	svc := fmt.Sprintf("costlb service %q", h.Name)
	var errs []error
	check := func(bad bool, caddyfileName, jsonName string, v int, allowed string) {
		if bad {
			errs = append(errs, fmt.Errorf("%s: %s %d: %s (JSON: %s)", svc, caddyfileName, v, allowed, jsonName))
		}
	}
	if a := hc.Active; a != nil {
		check(a.Port < 0 || a.Port > 65535, "health_port", "health_checks.active.port", a.Port, "must be a port from 1 to 65535, or 0 for the backend's own")
		check(a.Fall < 0, "health_fall", "health_checks.active.fall", a.Fall, "must be 1 or more, or 0 for the default 1")
		check(a.Rise < 0, "health_rise", "health_checks.active.rise", a.Rise, "must be 1 or more, or 0 for the default 1")
	}
	if p := hc.Passive; p != nil {
		check(p.MaxFails < 0, "max_fails", "health_checks.passive.max_fails", p.MaxFails, "must be 1 or more, or 0 for the default 1")
		check(p.UnhealthyConnectionCount < 0, "unhealthy_connection_count", "health_checks.passive.unhealthy_connection_count",
			p.UnhealthyConnectionCount, "must be 1 or more, or 0 for no limit")
	}
	return errors.Join(errs...)
}

// durationRule says what a duration option allows besides positive
// values: zero where it means something, as the proxy's default or "off".
type durationRule struct {
	caddyfile, json string // the option's names
	zeroOK          bool   // whether an explicit 0 means something
	allowed         string // what is allowed, for the message
}

var (
	ruleHealthInterval = durationRule{"health_interval", "health_checks.active.interval", false, "must be a positive duration (default 30s)"}
	ruleHealthTimeout  = durationRule{"health_timeout", "health_checks.active.timeout", false, "must be a positive duration (default 5s)"}
	ruleFailDuration   = durationRule{"fail_duration", "health_checks.passive.fail_duration", true, "must be a positive duration, or 0 for no passive health checks"}
	ruleTryDuration    = durationRule{"lb_try_duration", "load_balancing.try_duration", true, "must be a positive duration, or 0 for no retries"}
	ruleTryInterval    = durationRule{"lb_try_interval", "load_balancing.try_interval", false, "must be a positive duration (default 250ms)"}
	ruleTLSTimeout     = durationRule{"tls_timeout", "tls.handshake_timeout", true, "must be a positive duration, or 0 for none"}
	ruleSlowStart      = durationRule{"slow_start", "slow_start", true, "must be a positive duration, or 0 for no slow start"}

	// proxyDurationRules are the rules of the proxy options, by Caddyfile name
	proxyDurationRules = []durationRule{ruleHealthInterval, ruleHealthTimeout, ruleFailDuration, ruleTryDuration, ruleTryInterval}
)

// checkExplicitDurations refuses, among the tokens of caddy-l4 proxy
// options in a Caddyfile, a negative duration, and a zero one where zero
// would silently become the default (JSON cannot tell a zero from an
// option not given, so only the Caddyfile can refuse it). A value that is
// not a duration is left to caddy-l4's parser, which names it.
func checkExplicitDurations(toks []caddyfile.Token) error {
	d := caddyfile.NewDispenser(toks)
	for d.Next() {
		opt := d.Val()
		i := slices.IndexFunc(proxyDurationRules, func(r durationRule) bool { return r.caddyfile == opt })
		if i < 0 || !d.NextArg() {
			continue
		}
		r, val := proxyDurationRules[i], d.Val()
		dur, err := caddy.ParseDuration(val)
		if err != nil || dur > 0 || dur == 0 && r.zeroOK {
			continue
		}
		return d.Errf("costlb: %s %s: %s", opt, val, r.allowed)
	}
	return nil
}

// check returns an error for a negative d. Zero is the JSON value of an
// option not given, so it is the proxy's default here; the Caddyfile
// parser refuses an explicit zero where zero has no meaning.
func (r durationRule) check(d caddy.Duration) error {
	if d >= 0 {
		return nil
	}
	return fmt.Errorf("%s %v: %s (JSON: %s)", r.caddyfile, time.Duration(d), r.allowed, r.json)
}

// checkDurations refuses every negative duration of the service: the
// caddy-l4 proxy would panic creating a ticker (health_interval), or
// silently never wait or time out.
func (h *Handler) checkDurations() error {
	svc := fmt.Sprintf("costlb service %q", h.Name)
	var errs []error
	add := func(prefix string, r durationRule, d caddy.Duration) {
		if err := r.check(d); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", prefix, err))
		}
	}
	if hc := h.HealthChecks; hc != nil {
		if a := hc.Active; a != nil {
			add(svc, ruleHealthInterval, a.Interval)
			add(svc, ruleHealthTimeout, a.Timeout)
		}
		if p := hc.Passive; p != nil {
			add(svc, ruleFailDuration, p.FailDuration)
		}
	}
	add(svc, ruleSlowStart, h.SlowStart)
	if lb := h.LoadBalancing; lb != nil {
		add(svc, ruleTryDuration, lb.TryDuration)
		add(svc, ruleTryInterval, lb.TryInterval)
	}
	for _, b := range h.Backends {
		if b != nil && b.TLS != nil {
			add(svc+": "+backendLabel(b.Site, b.Dial), ruleTLSTimeout, b.TLS.HandshakeTimeout)
		}
	}
	return errors.Join(errs...)
}
