package module

import (
	"os"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/costlb/costlb/module/history"
)

// History is the process's history (module/history): every config
// generation samples it and adds to it, so a reload keeps it, as it keeps
// the live counts.
var History = history.NewStore(time.Second)

// historyIntervalEnv names the environment variable that sets the
// sampling interval of the history, for tests only: a test that needs a
// minute of samples (a chart of the status page) takes them at, say, 20ms
// rather than waiting a minute. It is read when a config starts; anything
// but a positive Go duration leaves the interval at one second. It is not
// part of the documented configuration.
const historyIntervalEnv = "COSTLB_TEST_HISTORY_INTERVAL"

// historyInterval returns the sampling interval: one second, or the test
// knob's.
func historyInterval() time.Duration {
	if d, err := time.ParseDuration(os.Getenv(historyIntervalEnv)); err == nil && d > 0 {
		return d
	}
	return time.Second
}

// sampler is the one goroutine that samples History, owned by the app
// that started last and has not stopped: a config that starts takes it
// over, so that a reload neither stops the sampling nor doubles it; when
// the owner stops, the app that ran before it (a config whose reload
// failed goes on running) takes it back, and the last one stops it.
var sampler struct {
	mu   sync.Mutex
	apps []*App // started and not stopped, oldest first: the last owns it
	stop chan struct{}
	done chan struct{}
}

// samplerOwner returns the app whose services are sampled, or nil;
// sampler.mu must be held.
func samplerOwner() *App {
	if len(sampler.apps) == 0 {
		return nil
	}
	return sampler.apps[len(sampler.apps)-1]
}

// startHistory records the config's start in the history (a reload, the
// cost changes) and makes a the owner of the sampler, starting it if it
// is not running.
func (a *App) startHistory() {
	links := make([]history.Link, 0, len(a.Links))
	for _, l := range a.linkViews() {
		if l.Auto {
			continue // its changes are told as measured (autolink.go)
		}
		links = append(links, history.Link{Between: l.Between, Cost: l.Cost})
	}
	History.Configured(time.Now(), links)
	interval := historyInterval()
	History.SetInterval(interval)
	sampler.mu.Lock()
	defer sampler.mu.Unlock()
	sampler.apps = append(sampler.apps, a)
	if sampler.stop != nil {
		return
	}
	sampler.stop, sampler.done = make(chan struct{}), make(chan struct{})
	go runSampler(interval, sampler.stop, sampler.done)
}

// stopHistory gives up a's hold on the sampler, and stops it if no other
// app runs.
func (a *App) stopHistory() {
	sampler.mu.Lock()
	if i := slices.Index(sampler.apps, a); i >= 0 {
		sampler.apps = slices.Delete(sampler.apps, i, i+1)
	}
	if len(sampler.apps) > 0 || sampler.stop == nil {
		sampler.mu.Unlock()
		return
	}
	stop, done := sampler.stop, sampler.done
	sampler.stop, sampler.done = nil, nil
	sampler.mu.Unlock()
	close(stop)
	<-done
}

// runSampler samples the owner's services every interval until stop.
func runSampler(interval time.Duration, stop, done chan struct{}) {
	defer close(done)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-tick.C:
			sampler.mu.Lock()
			a := samplerOwner()
			sampler.mu.Unlock()
			if a != nil {
				History.Sample(now, a.historySample())
			}
		}
	}
}

// historySample reads the state of every service for a sample.
func (a *App) historySample() []history.ServiceSample {
	svcs := a.Services()
	out := make([]history.ServiceSample, 0, len(svcs))
	for _, s := range svcs {
		v := ViewOf(s)
		ss := history.ServiceSample{Name: v.Name, Backends: make([]history.BackendSample, 0, len(v.Backends))}
		for _, b := range v.Backends {
			reason := b.DownReason
			if b.GatewayReady != nil && !*b.GatewayReady {
				reason = b.NotReadyReason
			}
			ss.Backends = append(ss.Backends, history.BackendSample{Site: b.Site, Address: b.Address,
				Live: b.LiveConnections, Opened: b.ConnectionsTotal, Healthy: b.Healthy, Ready: b.GatewayReady, Reason: reason})
		}
		out = append(out, ss)
	}
	return out
}

// HoldCounts returns the running totals (bytes, failed dials) of the
// backend at addr of service, shared with the other config generations
// of the service; the app gives them back when its config is cleaned up.
func (a *App) HoldCounts(service, addr string) *history.Counts {
	a.heldMu.Lock()
	defer a.heldMu.Unlock()
	a.held = append(a.held, [2]string{service, addr})
	return History.Hold(service, addr)
}

// releaseCounts gives back the running totals the config's services
// hold, when the config is cleaned up.
func (a *App) releaseCounts() {
	a.heldMu.Lock()
	defer a.heldMu.Unlock()
	for _, k := range a.held {
		History.Release(k[0], k[1])
	}
	a.held = nil
}

// refusedCounter is a service's no_backend_total counter that also counts
// in the history's refused connections.
type refusedCounter struct {
	prometheus.Counter
	counts *history.Counts
}

// Inc counts one refused connection.
func (c refusedCounter) Inc() {
	c.Counter.Inc()
	c.counts.Refused.Add(1)
}

// logHistoryStart is a debug line naming the sampling interval when it is
// not the default (the test knob).
func (a *App) logHistoryStart() {
	if d := historyInterval(); d != time.Second {
		a.logger.Debug("costlb history sampled at a test interval", zap.Duration("interval", d), zap.String("env", historyIntervalEnv))
	}
}
