package l4handler

import (
	"fmt"
	"strings"
	"time"

	cfile "github.com/costlb/costlb/caddyfile"
	"github.com/costlb/costlb/costlb"
	"github.com/costlb/costlb/module"
)

// expandBackends checks the backends against the network and returns one
// backend per dial address.
func (h *Handler) expandBackends(svc string) ([]backend, error) {
	var out []backend
	seen := make(map[string]string)
	for i, b := range h.Backends {
		cost, err := h.checkBackend(i, b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", svc, err)
		}
		weight, err := checkWeight(i, b)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", svc, err)
		}
		for _, addr := range b.Dial {
			if err := module.CheckDialAddress(addr); err != nil {
				return nil, fmt.Errorf("%s: %s: %w", svc, backendLabel(b.Site, b.Dial), err)
			}
			if prev, dup := seen[module.AddressKey(addr)]; dup {
				return nil, fmt.Errorf("%s: backend address %q is given twice (sites %q and %q): each address is one backend", svc, addr, prev, b.Site)
			}
			seen[module.AddressKey(addr)] = b.Site
			u := b.Upstream
			u.Dial = []string{addr}
			out = append(out, backend{up: &u, site: b.Site, pathCost: cost, weight: weight, readyURL: b.ReadyURL, cfg: b})
		}
	}
	return out, nil
}

// backendLabel names a backend in messages as the config gives it, by its
// addresses and site: "backend 10.0.0.1:5432 10.0.0.2:5432 (site west)".
// Provisioning knows no Caddyfile line, and a position would count what
// the user never wrote (the Caddyfile gives each address of a backend line
// its own JSON backend).
func backendLabel(site string, dial []string) string {
	s := "backend"
	if len(dial) > 0 {
		s += " " + module.AddressList(dial)
	}
	if site != "" {
		s += " (site " + module.SiteLabel(site) + ")"
	}
	return s
}

// checkBackend checks backend i and returns the path cost to its site.
func (h *Handler) checkBackend(i int, b *Backend) (int64, error) {
	if b == nil {
		return 0, fmt.Errorf("backend #%d of %d is null: a backend is an object like {\"site\": \"east\", \"dial\": [\"10.0.0.1:5432\"]}", i+1, len(h.Backends))
	}
	sites := h.app.Network().Sites()
	label := backendLabel(b.Site, b.Dial)
	if b.Site == "" && len(b.Dial) == 0 { // nothing to name it by but its place
		label = fmt.Sprintf("backend #%d of %d", i+1, len(h.Backends))
	}
	if b.Site == "" {
		return 0, fmt.Errorf("%s has no site: every backend needs \"site\", one of: %s", label, strings.Join(sites, ", "))
	}
	switch b.ResolverPreference {
	case "", "ipv4_only", "ipv6_only", "ipv4_first", "ipv6_first":
	default:
		return 0, fmt.Errorf("%s: resolver_preference %q: must be one of ipv4_only, ipv6_only, ipv4_first, ipv6_first", label, b.ResolverPreference)
	}
	if b.MaxConnections < 0 {
		return 0, fmt.Errorf("%s: max_connections %d: must be 0 (no limit) or positive", label, b.MaxConnections)
	}
	if b.Site != h.app.Site && !h.app.Network().LocalLinked() {
		return 0, fmt.Errorf("%s: %w", label, h.app.Network().UnlinkedLocal(b.Site))
	}
	if !h.app.Network().HasSite(b.Site) {
		return 0, fmt.Errorf("%s: unknown site %q; sites in the network: %s", label, b.Site, strings.Join(sites, ", "))
	}
	route, _ := h.paths.Cost(b.Site)
	if !route.Reachable {
		return 0, fmt.Errorf("%s: site %q has no path from the local site %q: link it to the network", label, b.Site, h.app.Site)
	}
	if len(b.Dial) == 0 {
		return 0, fmt.Errorf("backend in site %q has no dial address: give it one or more host:port addresses", b.Site)
	}
	if err := checkReady(b); err != nil {
		return 0, fmt.Errorf("%s: %w", label, err)
	}
	return route.Cost, nil
}

// buildBalancer makes the service's balancer over its backends, with
// their live counters, health probes and, for gateways, readiness.
func (h *Handler) buildBalancer() error {
	bes := make([]costlb.Backend, len(h.backends))
	sites := make([]string, len(h.backends))
	for i := range h.backends {
		a := &h.backends[i]
		u := a.up
		sites[i] = module.SiteKey(a.site, u.Dial[0])
		a.counter = module.Counters.Counter(module.AddressKey(u.Dial[0]))
		bes[i] = costlb.Backend{
			Site:     a.site,
			Address:  u.Dial[0],
			PathCost: a.pathCost,
			Path:     h.siteCosts.Cell(a.site),
			MaxConns: h.maxConns(u),
			Weight:   a.weight,
			Counter:  a.counter,
			Healthy:  h.backendHealthy(a),
		}
		if a.readyURL != "" {
			g, err := h.loadGateway(u.Dial[0], a)
			if err != nil {
				return fmt.Errorf("%s: %w", backendLabel(a.site, u.Dial), err)
			}
			a.gateway, bes[i].Ready, bes[i].Onward = g, g.Ready, g.Onward()
		}
	}
	h.primary = module.HoldPrimary(module.Identity(h.Name, h.defaultName, "backends", sites), h.Name, h.logger)
	h.primary.FollowCosts(h.siteCosts)
	var err error
	if h.bal, err = costlb.New(bes, func(s costlb.Shift) { h.primary.LogShift(h.bal, s) }); err != nil {
		return err
	}
	h.bal.SetSlowStart(time.Duration(h.SlowStart), nil)
	h.siteCosts.OnChange(h.bal.Observe)
	return nil
}

// checkWeight reads the weight of backend i (1 if not given), naming a
// refused one with its place in the config.
func checkWeight(i int, b *Backend) (int64, error) {
	if b.Weight == nil {
		return 1, nil
	}
	w, err := cfile.ParseWeight(b.Weight)
	if err != nil {
		return 0, fmt.Errorf("%s: %w (JSON: backends[%d].weight)", backendLabel(b.Site, b.Dial), err, i)
	}
	return w, nil
}
