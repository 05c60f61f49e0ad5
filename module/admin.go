package module

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/costlb/costlb/costlb"
	"github.com/costlb/costlb/linkgraph"
)

func init() {
	caddy.RegisterModule(adminAPI{})
}

// adminAPI serves the costlb view of the network on Caddy's admin endpoint:
// GET (or HEAD) /costlb/ (JSON; ?paths=all adds every site's path) and
// /costlb/graph.dot (Graphviz).
type adminAPI struct{}

// CaddyModule returns the Caddy module information.
func (adminAPI) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "admin.api.costlb",
		New: func() caddy.Module { return new(adminAPI) },
	}
}

// Routes returns the admin routes.
func (a adminAPI) Routes() []caddy.AdminRoute {
	return []caddy.AdminRoute{{Pattern: "/costlb/", Handler: caddy.AdminHandlerFunc(a.serve)}}
}

// View is the JSON document served at GET /costlb/.
type View struct {
	LocalSite string        `json:"local_site"`
	Sites     []SiteView    `json:"sites"`
	Links     []LinkView    `json:"links"`
	Services  []ServiceView `json:"services"`
	// Counters are the process-wide live counts of every address that a
	// service of the running config uses or that has connections open,
	// such as a backend a reload removed while connections to it were open.
	Counters []CounterView `json:"counters"`
}

// SiteView is one site as seen from the local site.
type SiteView struct {
	Name     string `json:"name"`
	PathCost int64  `json:"path_cost"`
	Hops     int    `json:"hops"`
	// Path lists the sites from the local site to this one. It is given
	// for the local site and the sites with backends, and for every
	// reachable site with ?paths=all.
	Path      []string `json:"path,omitempty"`
	Reachable bool     `json:"reachable"`
}

// LinkView is one link of the network.
type LinkView struct {
	Between [2]string `json:"between"`
	Cost    int64     `json:"cost"`
	// Auto marks a link whose cost follows the measured round trip; RTTMs
	// is that round trip, smoothed, in milliseconds, once measured.
	Auto  bool     `json:"auto,omitempty"`
	RTTMs *float64 `json:"rtt_ms,omitempty"`
}

// ServiceView is one costlb service with its backends.
type ServiceView struct {
	Name string `json:"name"`
	// Kind is "layer4" for a costlb layer4 handler, "http" for a
	// reverse_proxy with lb_policy cost, whose backends are its upstreams
	// and whose connections are requests.
	Kind string `json:"kind"`
	// PrimarySite is the cheapest site with a usable backend (healthy
	// and, for a gateway, ready), as last seen by a pick or by the health
	// watch, which looks every health interval, traffic or not ("" while
	// no backend is usable, or before the first look).
	PrimarySite string `json:"primary_site"`
	// Ready tells whether the service has an available backend, and Routes
	// are the routes this Caddy offers its peers for it (what
	// costlb_status answers at /ready/<service>).
	Ready     bool           `json:"ready"`
	Routes    []costlb.Route `json:"routes"`
	LinkCosts []LinkView     `json:"link_costs,omitempty"`
	Backends  []BackendView  `json:"backends"`
}

// BackendView is one backend's live state.
type BackendView struct {
	Site    string `json:"site"`
	Address string `json:"address"`
	// PathCost is the path cost the pick uses: SiteCost, the path cost to
	// the backend's site, plus, for a gateway, OnwardCost, the lowest cost
	// among its usable routes.
	PathCost         int64  `json:"path_cost"`
	SiteCost         int64  `json:"site_cost"`
	OnwardCost       int64  `json:"onward_cost"`
	LiveConnections  int64  `json:"live_connections"`
	PerceivedCost    int64  `json:"perceived_cost"`
	Healthy          bool   `json:"healthy"`
	Available        bool   `json:"available"`
	MaxConnections   int64  `json:"max_connections"`
	ConnectionsTotal uint64 `json:"connections_total"`
	// Weight is the backend's weight (1 if not given), and SlowStart its
	// ramp after slow start, while it runs (capacity.go).
	Weight    int64          `json:"weight"`
	SlowStart *SlowStartView `json:"slow_start,omitempty"`
	// DownReason tells why an unhealthy backend is down, as far as
	// costlb knows (the active check's own error is in Caddy's log).
	DownReason string `json:"down_reason,omitempty"`
	// Gateway backends only (those with a readiness URL): the URL, whether
	// the last answer offered a usable route, those routes with their costs
	// as seen from here (the path cost to the gateway's site included), why
	// the gateway is not ready, and why answered routes were dropped.
	ReadyURL       string         `json:"ready_url,omitempty"`
	GatewayReady   *bool          `json:"ready,omitempty"`
	Routes         []costlb.Route `json:"routes,omitempty"`
	NotReadyReason string         `json:"not_ready_reason,omitempty"`
	DroppedRoutes  []string       `json:"dropped_routes,omitempty"`
}

// CounterView is one process-wide live counter.
type CounterView struct {
	Address         string `json:"address"`
	LiveConnections int64  `json:"live_connections"`
}

// serve answers every route of the module. It is read-only: HEAD is
// answered as GET (net/http sends no body), any other method gets 405 with
// the methods allowed.
func (adminAPI) serve(w http.ResponseWriter, r *http.Request) error {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		return caddy.APIError{HTTPStatus: http.StatusMethodNotAllowed, Err: fmt.Errorf("method %s not allowed: the costlb admin API is read-only; use GET or HEAD", r.Method)}
	}
	app := RunningApp()
	if app == nil {
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("costlb is not running: the config has no costlb app")}
	}
	switch strings.TrimPrefix(r.URL.Path, "/costlb/") {
	case "":
		allPaths, err := allPathsParam(r)
		if err != nil {
			return caddy.APIError{HTTPStatus: http.StatusBadRequest, Err: err}
		}
		w.Header().Set("Content-Type", "application/json")
		if allPaths {
			return app.writeViewAllPaths(w, app.View())
		}
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(app.View())
	case "graph.dot":
		w.Header().Set("Content-Type", "text/vnd.graphviz; charset=utf-8")
		writeDot(w, app.View())
		return nil
	default:
		return caddy.APIError{HTTPStatus: http.StatusNotFound, Err: fmt.Errorf("no such costlb resource %q; try /costlb/ or /costlb/graph.dot", r.URL.Path)}
	}
}

// BackendOf returns the view of a backend in state st that has taken total
// connections (requests, for an HTTP service) since the config loaded.
func BackendOf(st costlb.State, total uint64) BackendView {
	return BackendView{
		Site: st.Site, Address: st.Address, PathCost: st.TotalCost,
		SiteCost: st.PathCost, OnwardCost: st.OnwardCost,
		LiveConnections: st.Live, PerceivedCost: st.Perceived,
		Healthy: st.Healthy, Available: st.Available,
		MaxConnections: st.MaxConns, ConnectionsTotal: total,
		Weight: st.Weight, SlowStart: slowStartOf(st),
	}
}

// LinkViews returns the view of links, each with its cost (the default
// where none is given).
func LinkViews(links []linkgraph.Link) []LinkView {
	out := make([]LinkView, len(links))
	for i, l := range links {
		out[i] = LinkView{Between: l.Between, Cost: l.Cost, Auto: l.Auto}
		switch {
		case out[i].Cost == 0 && l.Auto:
			out[i].Cost = linkgraph.UnmeasuredCost
		case out[i].Cost == 0:
			out[i].Cost = linkgraph.DefaultCost
		}
	}
	return out
}

// View builds the admin document from the app's live state.
func (a *App) View() View {
	v := View{LocalSite: a.Site, Links: a.linkViews()}
	for _, s := range a.Services() {
		v.Services = append(v.Services, ViewOf(s))
	}
	if v.Services == nil {
		v.Services = []ServiceView{}
	}
	shown := a.shownPaths(v.Services)
	paths := a.livePaths()
	costs := paths.Costs()
	v.Sites = make([]SiteView, len(costs))
	for i, c := range costs {
		v.Sites[i] = SiteView{Name: c.Site, PathCost: c.Cost, Hops: c.Hops, Reachable: c.Reachable}
		if c.Reachable && shown[c.Site] {
			v.Sites[i].Path = paths.Path(c.Site)
		}
	}
	for _, c := range a.liveCounters() {
		v.Counters = append(v.Counters, CounterView{Address: c.Address(), LiveConnections: c.Live()})
	}
	if v.Counters == nil {
		v.Counters = []CounterView{}
	}
	return v
}

// ViewOf returns the view of s: its own, with its name, kind, readiness
// and routes.
func ViewOf(s Service) ServiceView {
	sv := s.View()
	sv.Name, _ = s.ServiceName()
	sv.Kind = s.ServiceKind()
	sv.Ready, sv.Routes = readiness(s.Routes())
	if sv.Backends == nil {
		sv.Backends = []BackendView{}
	}
	return sv
}

// readiness returns whether routes make a service ready (at least one
// route), and routes as shown: never null.
func readiness(routes []costlb.Route) (bool, []costlb.Route) {
	if len(routes) == 0 {
		return false, []costlb.Route{}
	}
	return true, routes
}

// writeDot draws the network: sites as nodes (the local site doubled),
// links with their costs, and each service's backends as boxes attached to
// their site, labelled with live connections.
func writeDot(w io.Writer, v View) {
	q := strconv.Quote
	fmt.Fprintln(w, "graph costlb {")
	fmt.Fprintln(w, "\tgraph [rankdir=LR, fontname=\"Helvetica\"];")
	fmt.Fprintln(w, "\tnode [fontname=\"Helvetica\"];")
	fmt.Fprintln(w, "\tedge [fontname=\"Helvetica\"];")
	for _, s := range v.Sites {
		label := fmt.Sprintf("%s\npath cost %d", s.Name, s.PathCost)
		attrs := "shape=ellipse"
		switch {
		case s.Name == v.LocalSite:
			label = fmt.Sprintf("%s\n(local)", s.Name)
			attrs = "shape=doublecircle"
		case !s.Reachable:
			label = fmt.Sprintf("%s\nunreachable", s.Name)
			attrs = "shape=ellipse, style=dashed"
		}
		fmt.Fprintf(w, "\t%s [label=%s, %s];\n", q("site:"+s.Name), q(label), attrs)
	}
	for _, l := range v.Links {
		fmt.Fprintf(w, "\t%s -- %s [label=%s];\n", q("site:"+l.Between[0]), q("site:"+l.Between[1]), q(strconv.FormatInt(l.Cost, 10)))
	}
	for _, s := range v.Services {
		for _, b := range s.Backends {
			id := "backend:" + s.Name + ":" + b.Address
			label := fmt.Sprintf("%s\n%s\nlive %d, perceived %d", s.Name, b.Address, b.LiveConnections, b.PerceivedCost)
			style := "solid"
			if !b.Available {
				label += "\nunavailable"
				style = "dashed"
			}
			fmt.Fprintf(w, "\t%s [label=%s, shape=box, style=%s];\n", q(id), q(label), style)
			fmt.Fprintf(w, "\t%s -- %s [style=dotted];\n", q("site:"+b.Site), q(id))
		}
	}
	fmt.Fprintln(w, "}")
}

// Interface guard
var _ caddy.AdminRouter = (*adminAPI)(nil)
