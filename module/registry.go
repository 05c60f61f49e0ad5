package module

import (
	"fmt"
	"slices"
	"strings"

	"github.com/costlb/costlb/costlb"
	"github.com/costlb/costlb/linkgraph"
)

// Service is a costlb service as the app sees it: a layer4 handler
// (module/l4handler) or a selection policy of Caddy's reverse_proxy
// (module/httppolicy). A service registers with its config's app from
// Provision to Cleanup; the admin view, costlb_status and the metrics read
// it through this interface alone.
type Service interface {
	// ServiceName returns the service's name, unique in its config, and
	// whether it was given by default (costlb-<n>, http-<n>).
	ServiceName() (name string, byDefault bool)
	// ServiceKind returns what kind of service it is, as ServiceView.Kind:
	// "layer4" or "http".
	ServiceKind() string
	// View returns the service's live state: its primary site, link costs
	// and backends. The app fills in the name, kind, readiness and routes.
	View() ServiceView
	// Routes returns the service's routes as this Caddy offers them to its
	// peers, with their costs, cheapest first (costlb.NormalizeRoutes);
	// the service is ready when there is at least one.
	Routes() []costlb.Route
	// CollectMetrics reports the service's metrics read at scrape time.
	CollectMetrics(m *ServiceMetrics)
	// HeldCounters returns the process-wide live counters (Counters) the
	// service counts its connections on; nil if it counts on none.
	HeldCounters() []*costlb.Counter
	// SiteUse returns the sites of the service's backends, as configured,
	// and its link cost overrides: what it uses of the site network.
	SiteUse() linkgraph.Use
}

// Register adds s to the app if its name is free; names must be unique in
// a config, across both kinds.
func (a *App) Register(s Service) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	name, byDefault := s.ServiceName()
	if other := a.find(name); other != nil {
		if _, otherByDefault := other.ServiceName(); byDefault || otherByDefault {
			return fmt.Errorf("costlb: two services are named %q, one of them by default (costlb-<n> or http-<n> for the n-th service without a name): name the services explicitly", name)
		}
		return fmt.Errorf("costlb: two services are named %q: service names must be unique", name)
	}
	a.services = append(a.services, s)
	return nil
}

// Unregister removes s from the app, on cleanup.
func (a *App) Unregister(s Service) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if i := slices.Index(a.services, s); i >= 0 {
		a.services = slices.Delete(a.services, i, i+1)
	}
}

// find returns the service named name, or nil; a.mu must be held.
func (a *App) find(name string) Service {
	for _, s := range a.services {
		if n, _ := s.ServiceName(); n == name {
			return s
		}
	}
	return nil
}

// NextName returns the default name of the next unnamed service of kind:
// prefix-<n>, n counting from the services of that kind, and free among
// both kinds.
func (a *App) NextName(kind, prefix string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, s := range a.services {
		if s.ServiceKind() == kind {
			n++
		}
	}
	for ; ; n++ {
		name := fmt.Sprintf("%s-%d", prefix, n)
		if a.find(name) == nil {
			return name
		}
	}
}

// Service returns the service named name, or nil.
func (a *App) Service(name string) Service {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.find(name)
}

// Services returns the services sorted by name.
func (a *App) Services() []Service {
	a.mu.Lock()
	out := slices.Clone(a.services)
	a.mu.Unlock()
	slices.SortFunc(out, func(x, y Service) int {
		nx, _ := x.ServiceName()
		ny, _ := y.ServiceName()
		return strings.Compare(nx, ny)
	})
	return out
}

// maxServiceNameLen is the maximum length of a service name, in bytes, as
// for a site name.
const maxServiceNameLen = 128

// CheckServiceName refuses a service name too long to show, for who, the
// block that names the service ("costlb", "lb_policy cost").
func CheckServiceName(who, name string) error {
	if len(name) > maxServiceNameLen {
		return fmt.Errorf("%s service name %s is too long (%d bytes): a service name must be 1 to %d bytes",
			who, linkgraph.QuoteName(name), len(name), maxServiceNameLen)
	}
	return nil
}
