package module

import (
	"context"
	"time"

	"github.com/caddyserver/caddy/v2"
)

// defaultHealthPeriod is how often a service looks when its active health
// checks set no interval (or timeout).
const defaultHealthPeriod = time.Second

// HealthPeriod returns d, an active health check interval or timeout as
// configured, if it is set, else one second: how often a service watches
// for a failover without traffic and polls its gateways, and how long a
// poll may take.
func HealthPeriod(d caddy.Duration) time.Duration {
	if d > 0 {
		return time.Duration(d)
	}
	return defaultHealthPeriod
}

// WatchPrimary runs observe every interval until ctx (the config's) is
// done. observe is a balancer's Observe: a service notices a failover or
// failback within one health interval whether or not connections flow,
// not only when the next connection is picked.
func WatchPrimary(ctx context.Context, interval time.Duration, observe func()) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			observe()
		}
	}
}
