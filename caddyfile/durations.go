package caddyfile

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// durationAllowed says, for each caddy-l4 proxy option that takes a
// duration, whether zero means something there and what is allowed.
var durationAllowed = map[string]struct {
	zeroOK bool
	rule   string
}{
	"health_interval": {false, "must be a positive duration (default 30s)"},
	"health_timeout":  {false, "must be a positive duration (default 5s)"},
	"fail_duration":   {true, "must be a positive duration, or 0 for no passive health checks"},
	"lb_try_duration": {true, "must be a positive duration, or 0 for no retries"},
	"lb_try_interval": {false, "must be a positive duration (default 250ms)"},
}

// checkProxyDurations refuses, among the caddy-l4 proxy option tokens, a
// negative duration, and a zero one where zero would silently become the
// default: caddy-l4 panics on a negative health_interval and never waits
// or times out on the others. A value that is not a duration is left to
// caddy-l4's parser, which names it.
func checkProxyDurations(toks []caddyfile.Token) error {
	d := caddyfile.NewDispenser(toks)
	for d.Next() {
		opt := d.Val()
		allowed, ok := durationAllowed[opt]
		if !ok || !d.NextArg() {
			continue
		}
		val := d.Val()
		dur, err := caddy.ParseDuration(val)
		if err != nil || dur > 0 || dur == 0 && allowed.zeroOK {
			continue
		}
		return d.Errf("costlb: %s %s: %s", opt, val, allowed.rule)
	}
	return nil
}
