package httppolicy

import (
	"github.com/costlb/costlb/costlb"
	"github.com/costlb/costlb/linkgraph"
	"github.com/costlb/costlb/module"
)

// kind is the kind of an HTTP service, as the admin view shows it.
const kind = "http"

// ServiceName returns the service's name and whether it was given by
// default.
func (p *CostSelection) ServiceName() (string, bool) { return p.Name, p.defaultName }

// ServiceKind returns "http".
func (*CostSelection) ServiceKind() string { return kind }

// View returns the service's live state for the admin view: the upstreams
// of the pool the last request used (the static upstreams before any
// request).
func (p *CostSelection) View() module.ServiceView {
	sv := module.ServiceView{LinkCosts: module.LinkViews(p.LinkCosts)}
	pb := p.current.Load()
	if pb == nil {
		return sv
	}
	sv.PrimarySite = pb.bal.Primary()
	for i := 0; i < pb.bal.Len(); i++ {
		sv.Backends = append(sv.Backends, module.BackendOf(pb.bal.State(i), pb.totals[i].Load()))
	}
	return sv
}

// CollectMetrics reports the service's request counts as connections (for
// an HTTP service, a request is what a connection is for a layer4 one):
// every upstream address the service has sent requests to since the config
// loaded, dynamic ones included; and the in-flight requests of the
// upstreams of the pool the last request used, read from Caddy's hosts.
func (p *CostSelection) CollectMetrics(m *module.ServiceMetrics) {
	p.mu.Lock()
	for addr, n := range p.totals {
		m.Connections(p.siteFor(addr), addr, n.Load())
	}
	p.mu.Unlock()
	if pb := p.current.Load(); pb != nil {
		for i := 0; i < pb.bal.Len(); i++ {
			st := pb.bal.State(i)
			m.LiveRequests(st.Address, st.Live)
		}
	}
}

// HeldCounters returns nil: in-flight requests are Caddy's own count.
func (*CostSelection) HeldCounters() []*costlb.Counter { return nil }

// SiteUse returns the sites of the site entries (an upstream no entry
// names is in the local site) and the service's link cost overrides.
func (p *CostSelection) SiteUse() linkgraph.Use {
	u := linkgraph.Use{Sites: []string{p.app.Site}, Overrides: p.LinkCosts}
	for _, s := range p.Sites {
		u.Sites = append(u.Sites, s.Site)
	}
	return u
}

// Interface guard
var _ module.Service = (*CostSelection)(nil)
