package module

import (
	"fmt"
	"sort"
)

// registerHTTP adds a provisioned HTTP service; names are unique across
// every service of a config, layer4 and HTTP.
func (a *App) registerHTTP(p *CostSelection) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.checkName(p.Name, p.defaultName); err != nil {
		return err
	}
	a.https = append(a.https, p)
	return nil
}

// unregisterHTTP removes an HTTP service on cleanup.
func (a *App) unregisterHTTP(p *CostSelection) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, s := range a.https {
		if s == p {
			a.https = append(a.https[:i], a.https[i+1:]...)
			return
		}
	}
}

// httpService returns the registered HTTP service named name, or nil.
func (a *App) httpService(name string) *CostSelection {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, s := range a.https {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// nextHTTPName returns the default name of the next unnamed HTTP service.
func (a *App) nextHTTPName() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	taken := make(map[string]bool, len(a.services)+len(a.https))
	for _, s := range a.services {
		taken[s.Name] = true
	}
	for _, s := range a.https {
		taken[s.Name] = true
	}
	for i := len(a.https); ; i++ {
		if n := fmt.Sprintf("http-%d", i); !taken[n] {
			return n
		}
	}
}

// snapshotHTTP returns the registered HTTP services sorted by name.
func (a *App) snapshotHTTP() []*CostSelection {
	a.mu.Lock()
	out := append([]*CostSelection(nil), a.https...)
	a.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// httpServiceViews returns the admin view of every HTTP service.
func (a *App) httpServiceViews() []ServiceView {
	var out []ServiceView
	for _, p := range a.snapshotHTTP() {
		out = append(out, p.serviceView())
	}
	return out
}
