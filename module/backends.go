package module

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/mholt/caddy-l4/modules/l4proxy"

	"github.com/costlb/costlb/costlb"
	"github.com/costlb/costlb/linkgraph"
)

// backendAddr is one dial address of a backend: its own caddy-l4
// upstream, its site, path cost and readiness URL.
type backendAddr struct {
	up       *l4proxy.Upstream
	site     string
	pathCost int64
	ready    string
}

// expandBackends checks the backends against the network and returns one
// backendAddr per dial address.
func (h *Handler) expandBackends(svc string) ([]backendAddr, error) {
	var out []backendAddr
	seen := make(map[string]string)
	for i, b := range h.Backends {
		cost, err := h.checkBackend(i, b)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", svc, err)
		}
		for _, addr := range b.Dial {
			if err := checkDialAddress(addr); err != nil {
				return nil, fmt.Errorf("%s: %s: %v", svc, backendLabel(b.Site, b.Dial), err)
			}
			if prev, dup := seen[counterKey(addr)]; dup {
				return nil, fmt.Errorf("%s: backend address %q is given twice (sites %q and %q): each address is one backend", svc, addr, prev, b.Site)
			}
			seen[counterKey(addr)] = b.Site
			u := b.Upstream
			u.Dial = []string{addr}
			out = append(out, backendAddr{up: &u, site: b.Site, pathCost: cost, ready: b.Ready})
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
		s += " " + addressList(dial)
	}
	if site != "" {
		s += " (site " + siteLabel(site) + ")"
	}
	return s
}

// addressList writes addresses for messages, space-separated as on a
// Caddyfile line; a long list is cut short, with its length given.
func addressList(addrs []string) string {
	const keep = 3
	if len(addrs) <= keep {
		return strings.Join(addrs, " ")
	}
	return fmt.Sprintf("%s … (%d addresses)", strings.Join(addrs[:keep], " "), len(addrs))
}

// siteLabel writes a site name for messages: as it is when it is a valid
// site name, else quoted.
func siteLabel(site string) string {
	if linkgraph.CheckSiteName(site) == nil && !strings.ContainsAny(site, `"()`) {
		return site
	}
	return linkgraph.QuoteName(site)
}

// checkBackend checks backend i and returns the path cost to its site.
func (h *Handler) checkBackend(i int, b *Backend) (int64, error) {
	if b == nil {
		return 0, fmt.Errorf("backend #%d of %d is null: a backend is an object like {\"site\": \"east\", \"dial\": [\"10.0.0.1:5432\"]}", i+1, len(h.Backends))
	}
	sites := h.app.network.Sites()
	label := backendLabel(b.Site, b.Dial)
	if b.Site == "" && len(b.Dial) == 0 { // nothing to name it by but its place
		label = fmt.Sprintf("backend #%d of %d", i+1, len(h.Backends))
	}
	if b.Site == "" {
		return 0, fmt.Errorf("%s has no site: every backend needs \"site\", one of: %s", label, strings.Join(sites, ", "))
	}
	if b.Weight != 0 {
		return 0, fmt.Errorf("%s: weight has no meaning in costlb: backends are chosen by path cost + live connections; use link_costs or sites to steer traffic", label)
	}
	switch b.ResolverPreference {
	case "", "ipv4_only", "ipv6_only", "ipv4_first", "ipv6_first":
	default:
		return 0, fmt.Errorf("%s: resolver_preference %q: must be one of ipv4_only, ipv6_only, ipv4_first, ipv6_first", label, b.ResolverPreference)
	}
	if b.MaxConnections < 0 {
		return 0, fmt.Errorf("%s: max_connections %d: must be 0 (no limit) or positive", label, b.MaxConnections)
	}
	if !h.app.network.HasSite(b.Site) {
		return 0, fmt.Errorf("%s: unknown site %q; sites in the network: %s", label, b.Site, strings.Join(sites, ", "))
	}
	route, _ := h.paths.Cost(b.Site)
	if !route.Reachable {
		return 0, fmt.Errorf("%s: site %q has no path from the local site %q: link it to the network", label, b.Site, h.app.Site)
	}
	if len(b.Dial) == 0 {
		return 0, fmt.Errorf("backend in site %q has no dial address: give it one or more host:port addresses", b.Site)
	}
	if b.Ready != "" {
		if err := checkReadyURL(b.Ready); err != nil {
			return 0, fmt.Errorf("%s: %v", label, err)
		}
	}
	return route.Cost, nil
}

// checkDialAddress refuses addresses costlb cannot count per address.
func checkDialAddress(addr string) error {
	if strings.Contains(addr, "{") {
		return fmt.Errorf("address %q: placeholders are not supported: costlb counts live connections per fixed address", addr)
	}
	na, err := caddy.ParseNetworkAddress(addr)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) {
			return fmt.Errorf("malformed address %q: port %q must be 1-65535; want host:port", addr, ne.Num)
		}
		return fmt.Errorf("malformed address %q: %v; want host:port", addr, err)
	}
	if na.PortRangeSize() != 1 {
		return fmt.Errorf("address %q: port ranges are not supported; give one port", addr)
	}
	if !na.IsUnixNetwork() && na.StartPort == 0 {
		if strings.HasSuffix(addr, ":0") {
			return fmt.Errorf("malformed address %q: port 0: must be 1-65535; want host:port", addr)
		}
		return fmt.Errorf("malformed address %q: missing port; want host:port", addr)
	}
	return nil
}

// counterKey normalises a dial address so that "127.0.0.1:80" and
// "tcp/127.0.0.1:80" share one live count.
func counterKey(addr string) string {
	na, err := caddy.ParseNetworkAddress(addr)
	if err != nil {
		return addr
	}
	return na.String()
}

// buildBalancer makes the service's balancer over its backend addresses,
// with their live counters, health probes and, for gateways, readiness.
func (h *Handler) buildBalancer(addrs []backendAddr) error {
	bes := make([]costlb.Backend, len(addrs))
	h.gws = make([]*gateway, len(addrs))
	sites := make([]string, len(addrs))
	for i, a := range addrs {
		u := a.up
		sites[i] = a.site
		bes[i] = costlb.Backend{
			Site:     a.site,
			Address:  u.Dial[0],
			PathCost: a.pathCost,
			MaxConns: h.maxConns(u),
			Counter:  h.counter(u.Dial[0]),
			Healthy:  h.backendHealthy(i),
		}
		if a.ready != "" {
			g, err := h.loadGateway(u.Dial[0], a.ready)
			if err != nil {
				return fmt.Errorf("%s: %v", backendLabel(a.site, u.Dial), err)
			}
			h.gws[i], bes[i].Ready = g, g.Ready
		}
	}
	h.primaryKey = h.identity(h.sel.ups, sites)
	memo, _, _ := primaries.LoadOrNew(h.primaryKey, func() (caddy.Destructor, error) { return new(primaryMemo), nil })
	h.primary = memo.(*primaryMemo)
	var err error
	h.sel.bal, err = costlb.New(bes, h.logShift)
	return err
}
