package l4handler

import (
	"github.com/mholt/caddy-l4/modules/l4proxy"

	cfile "github.com/costlb/costlb/caddyfile"
	"github.com/costlb/costlb/costlb"
	"github.com/costlb/costlb/linkgraph"
	"github.com/costlb/costlb/module"
)

// kind is the kind of a costlb layer4 service, as the admin view shows it.
const kind = "layer4"

// ServiceName returns the service's name and whether it was given by
// default.
func (h *Handler) ServiceName() (string, bool) { return h.Name, h.defaultName }

// ServiceKind returns "layer4".
func (*Handler) ServiceKind() string { return kind }

// View returns the service's live state for the admin view: every
// backend, with its gateway's readiness for a gateway backend.
func (h *Handler) View() module.ServiceView {
	sv := module.ServiceView{PrimarySite: h.bal.Primary(), LinkCosts: module.LinkViews(h.LinkCosts)}
	for i := range h.backends {
		st := h.bal.State(i)
		bv := module.BackendOf(st, st.Picks)
		if !st.Healthy {
			bv.DownReason = h.downReason(&h.backends[i])
		}
		if g := h.backends[i].gateway; g != nil {
			r := g.State()
			ready := len(r.Routes) > 0
			bv.ReadyURL, bv.GatewayReady, bv.NotReadyReason, bv.DroppedRoutes = cfile.RedactURL(h.backends[i].readyURL), &ready, r.Reason, r.Dropped
			bv.Routes = costlb.NormalizeRoutes(costlb.ViaGateway(h.app.Site, st.PathCost, r.Routes))
		}
		sv.Backends = append(sv.Backends, bv)
	}
	return sv
}

// CollectMetrics reports every backend's connections, which the balancer
// counts as picks, and every gateway's readiness and path cost.
func (h *Handler) CollectMetrics(m *module.ServiceMetrics) {
	for i := range h.backends {
		st := h.bal.State(i)
		m.Connections(st.Site, st.Address, st.Picks)
	}
	for i := range h.backends {
		if g := h.backends[i].gateway; g != nil {
			m.GatewayReady(g.Upstream(), g.Ready())
			m.GatewayPathCost(g.Upstream(), h.bal.State(i).TotalCost)
		}
	}
}

// HeldCounters returns the live counters of the backends.
func (h *Handler) HeldCounters() []*costlb.Counter {
	out := make([]*costlb.Counter, len(h.backends))
	for i := range h.backends {
		out[i] = h.backends[i].counter
	}
	return out
}

// SiteUse returns the sites of the backends and the service's link cost
// overrides.
func (h *Handler) SiteUse() linkgraph.Use {
	u := linkgraph.Use{Overrides: h.LinkCosts}
	for _, b := range h.Backends {
		u.Sites = append(u.Sites, b.Site)
	}
	return u
}

// upstreams returns the backends' upstreams, in the balancer's order.
func (h *Handler) upstreams() l4proxy.UpstreamPool {
	ups := make(l4proxy.UpstreamPool, len(h.backends))
	for i := range h.backends {
		ups[i] = h.backends[i].up
	}
	return ups
}

// Interface guard
var _ module.Service = (*Handler)(nil)
