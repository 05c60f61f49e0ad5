package module

import (
	"context"
	"time"
)

// watchPrimary runs observe every interval until ctx (the config's) is
// done. observe is a balancer's Observe: a service notices a failover or
// failback within one health interval whether or not connections flow,
// not only when the next connection is picked.
func watchPrimary(ctx context.Context, interval time.Duration, observe func()) {
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
