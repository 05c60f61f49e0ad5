package module

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/costlb/costlb/linkgraph"
	"github.com/costlb/costlb/module/rttcost"
)

// The goroutines of a config's auto links: one per link, from the app's
// Start to its Stop, that applies the link's cost changes to the config's
// path costs and probes the link when nothing else measured it.

// startAuto starts, for every auto link, the goroutine that applies its
// changes to the config's path costs and probes it when nothing else
// measured it for a second; then applies what was measured before this
// config (by an earlier one, or while it provisioned).
func (a *App) startAuto() {
	if len(a.auto.uses) == 0 {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	a.auto.cancel = cancel
	targets := a.probeTargets()
	for _, u := range a.auto.uses {
		if len(targets[u.remote]) == 0 {
			a.logger.Warn("costlb auto link with nothing to measure",
				zap.String("link", a.network.Links()[u.index].String()),
				zap.String("reason", "no service of this Caddy has a backend in "+linkgraph.QuoteName(u.remote)+
					" to dial, poll or probe, so the link keeps its last measured cost (9998 until a first one); give it a number"))
		}
		changed := u.link.subscribe()
		a.auto.done.Add(1)
		go func() {
			defer a.auto.done.Done()
			defer u.link.unsubscribe(changed)
			a.runAuto(ctx, u, changed, targets[u.remote])
		}()
	}
	a.refreshCosts()
}

// stopAuto stops the goroutines of startAuto and waits for them.
func (a *App) stopAuto() {
	if a.auto.cancel != nil {
		a.auto.cancel()
		a.auto.done.Wait()
	}
}

// probeInterval is how long an auto link may go without a sample before
// costlb probes it; probeTimeout bounds a probe.
const (
	probeInterval = time.Second
	probeTimeout  = 3 * time.Second
)

// runAuto applies the changes of u's cost and probes it when nothing
// else measured it for a second: its own probes do not count, so that a
// link only the probe measures gets a sample every second. A probe runs
// beside the loop, one at a time, so that a slow one (a slow or cut link)
// does not hold back a change measured meanwhile.
func (a *App) runAuto(ctx context.Context, u autoUse, changed <-chan struct{}, targets []probeTarget) {
	tick := time.NewTicker(probeInterval)
	defer tick.Stop()
	var probing sync.WaitGroup
	defer probing.Wait()
	type result struct {
		ok bool
		at time.Time // the sample the probe gave
	}
	busy := false
	done := make(chan result, 1)
	var own time.Time // when the last probe's sample came
	next := 0         // the target to probe: the same one while it answers
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
			a.refreshCosts()
		case r := <-done:
			busy = false
			if !r.ok {
				next++ // try another backend of the site next time
				continue
			}
			own = r.at
		case <-tick.C:
			if busy || len(targets) == 0 {
				continue
			}
			if last := u.link.State().LastSample; last.After(own) && time.Since(last) < probeInterval {
				continue // a dial or a poll measured the site within the second
			}
			busy = true
			t := targets[next%len(targets)]
			probing.Add(1)
			go func() {
				defer probing.Done()
				rtt, err := rttcost.Connect(ctx, t.network, t.addr, probeTimeout)
				if err != nil {
					done <- result{}
					return
				}
				u.link.Observe(rtt)
				done <- result{ok: true, at: u.link.State().LastSample}
			}()
		}
	}
}

// probeTarget is a TCP address to probe.
type probeTarget struct{ network, addr string }

// probeTargets returns, by site, the TCP addresses of the services'
// backends there: what the probe of an auto link may connect to.
func (a *App) probeTargets() map[string][]probeTarget {
	out := make(map[string][]probeTarget)
	seen := make(map[string]bool)
	for _, s := range a.Services() {
		for _, b := range s.View().Backends {
			if seen[b.Address] || strings.Contains(b.Address, "{") {
				continue
			}
			seen[b.Address] = true
			na, err := caddy.ParseNetworkAddress(b.Address)
			if err != nil || !strings.HasPrefix(na.Network, "tcp") || na.PortRangeSize() != 1 {
				continue
			}
			out[b.Site] = append(out[b.Site], probeTarget{network: na.Network, addr: na.JoinHostPort(0)})
		}
	}
	return out
}
