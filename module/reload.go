package module

import (
	"slices"
	"sync"
	"sync/atomic"
)

// A reload starts the new config while the old one still runs, and stops
// the old one once the new one has started: for that while, two costlb
// apps are provisioned. Caddy opens new listening sockets for the new
// config and closes the old config's when it stops it; on Linux, a
// connection still waiting in a closed socket's accept queue is reset
// (unless net.ipv4.tcp_migrate_req is 1, see tcpmigrate_linux.go). A
// health check or dial of a backend this same Caddy serves (the quick
// start's demo backends are in its config) can hit that moment and fail
// although the backend never stopped serving. So a reload window is open
// from the new app's Provision to the old app's Cleanup (Caddy cleans a
// config's modules up after it has stopped all its apps, so by then the
// old listeners are closed), and services judge such failures by it: see
// HealthHolder.

// HealthHolder is a Service that can keep its backends' health as it was
// when a reload began, so that a check failing during the reload does not
// fake a failover.
type HealthHolder interface {
	// HoldHealth is called when a reload window opens, on the services
	// of the config that runs: each backend healthy now stays so for the
	// services of every config while the window numbered epoch is open,
	// whatever a health check says meanwhile.
	HoldHealth(epoch uint64)
	// ConfirmHealth is called as the window numbered epoch closes, on the
	// services of the config that now runs: a backend held for it that a
	// check marked down meanwhile is checked once more, now that the old
	// listeners are gone; if it answers, it stays up until the health
	// checks have had time to see it up again.
	ConfirmHealth(epoch uint64)
}

// reloads tracks the costlb apps provisioned and not yet cleaned up.
var reloads struct {
	mu   sync.Mutex
	apps []*App
	last uint64 // the number of the last window opened
}

// reloadEpoch is the number of the open reload window, 0 when none is.
var reloadEpoch atomic.Uint64

// ReloadEpoch returns the number of the reload window open now, or 0.
func ReloadEpoch() uint64 { return reloadEpoch.Load() }

// enterReload records a provisioned app. If another app runs, a reload
// window opens and the running apps' services hold their health.
func enterReload(a *App) {
	reloads.mu.Lock()
	defer reloads.mu.Unlock()
	if len(reloads.apps) > 0 && reloadEpoch.Load() == 0 {
		reloads.last++
		reloadEpoch.Store(reloads.last)
		for _, old := range reloads.apps {
			for _, s := range old.Services() {
				if hh, ok := s.(HealthHolder); ok {
					hh.HoldHealth(reloads.last)
				}
			}
		}
	}
	reloads.apps = append(reloads.apps, a)
}

// leaveReload forgets a cleaned-up app. When one app is left, the reload
// window closes and that app's services confirm the health they held.
func leaveReload(a *App) {
	reloads.mu.Lock()
	defer reloads.mu.Unlock()
	i := slices.Index(reloads.apps, a)
	if i < 0 {
		return
	}
	reloads.apps = slices.Delete(reloads.apps, i, i+1)
	if len(reloads.apps) > 1 || reloadEpoch.Load() == 0 {
		return
	}
	// the holds are confirmed (or dropped) before the window closes, so
	// that a held backend is never seen down in between
	for _, now := range reloads.apps {
		for _, s := range now.Services() {
			if hh, ok := s.(HealthHolder); ok {
				hh.ConfirmHealth(reloads.last)
			}
		}
	}
	reloadEpoch.Store(0)
}
