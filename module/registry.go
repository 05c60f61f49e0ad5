package module

import (
	"fmt"
	"slices"
	"strings"
)

// service is what the app's registry needs of a service of either kind:
// the layer4 handler and the HTTP selection policy.
type service interface {
	*Handler | *CostSelection
	serviceName() (name string, byDefault bool)
}

func (h *Handler) serviceName() (string, bool)       { return h.Name, h.defaultName }
func (p *CostSelection) serviceName() (string, bool) { return p.Name, p.defaultName }

// registry holds one config's services of one kind. The App's mutex
// guards it.
type registry[S service] struct {
	items []S
}

func (r *registry[S]) add(s S) { r.items = append(r.items, s) }

func (r *registry[S]) remove(s S) {
	if i := slices.Index(r.items, s); i >= 0 {
		r.items = slices.Delete(r.items, i, i+1)
	}
}

// find returns the service named name; ok is false if there is none.
func (r *registry[S]) find(name string) (found S, ok bool) {
	for _, s := range r.items {
		if n, _ := s.serviceName(); n == name {
			return s, true
		}
	}
	return found, false
}

// sorted returns a copy of the services sorted by name.
func (r *registry[S]) sorted() []S {
	out := slices.Clone(r.items)
	slices.SortFunc(out, func(a, b S) int {
		na, _ := a.serviceName()
		nb, _ := b.serviceName()
		return strings.Compare(na, nb)
	})
	return out
}

// registerService adds s to reg if its name is free among the services of both
// kinds; names must be unique in a config.
func registerService[S service](a *App, reg *registry[S], s S) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	name, byDefault := s.serviceName()
	if other, taken := a.named(name); taken {
		if byDefault || other {
			return fmt.Errorf("costlb: two services are named %q, one of them by default (costlb-<n> or http-<n> for the n-th service without a name): name the services explicitly", name)
		}
		return fmt.Errorf("costlb: two services are named %q: service names must be unique", name)
	}
	reg.add(s)
	return nil
}

// unregisterService removes s from reg, on cleanup.
func unregisterService[S service](a *App, reg *registry[S], s S) {
	a.mu.Lock()
	defer a.mu.Unlock()
	reg.remove(s)
}

// named reports whether a service of either kind has name, and whether
// that name was given by default; a.mu must be held.
func (a *App) named(name string) (byDefault, taken bool) {
	if h, ok := a.services.find(name); ok {
		_, byDefault = h.serviceName()
		return byDefault, true
	}
	if p, ok := a.https.find(name); ok {
		_, byDefault = p.serviceName()
		return byDefault, true
	}
	return false, false
}

// nextName returns the default name of the next unnamed service of reg's
// kind: prefix-<n>, n counting from the services of that kind, and free
// among both kinds.
func nextName[S service](a *App, reg *registry[S], prefix string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i := len(reg.items); ; i++ {
		n := fmt.Sprintf("%s-%d", prefix, i)
		if _, taken := a.named(n); !taken {
			return n
		}
	}
}

// layer4Service returns the layer4 service named name, or nil.
func (a *App) layer4Service(name string) *Handler {
	a.mu.Lock()
	defer a.mu.Unlock()
	h, _ := a.services.find(name)
	return h
}

// httpService returns the HTTP service named name, or nil.
func (a *App) httpService(name string) *CostSelection {
	a.mu.Lock()
	defer a.mu.Unlock()
	p, _ := a.https.find(name)
	return p
}

// snapshotServices returns the layer4 services sorted by name.
func (a *App) snapshotServices() []*Handler {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.services.sorted()
}

// snapshotHTTP returns the HTTP services sorted by name.
func (a *App) snapshotHTTP() []*CostSelection {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.https.sorted()
}
