package module

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/costlb/costlb/linkgraph"
)

// metrics are costlb's Prometheus collectors, registered in the config's
// metrics registry so they appear on the admin /metrics endpoint and reset
// on reload, except live connections, which are read from the process-wide
// counters at scrape time.
type metrics struct {
	noBackend *prometheus.CounterVec
	pathCost  *prometheus.GaugeVec
}

const namespace, subsystem = "caddy", "costlb"

func newMetrics(reg *prometheus.Registry, app *App) *metrics {
	m := &metrics{
		noBackend: SharedCollector(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "no_backend_total",
			Help: "Connections refused because no backend of the service was available.",
		}, []string{"service"})),
		pathCost: SharedCollector(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "path_cost",
			Help: "Path cost from the local site to each site, per service (after its link_cost overrides).",
		}, []string{"service", "site"})),
	}
	SharedCollector(reg, prometheus.Collector(liveCollector{app}))
	SharedCollector(reg, prometheus.Collector(servicesCollector{app}))
	SharedCollector(reg, prometheus.Collector(weightCollector{app})) // capacity.go
	SharedCollector(reg, prometheus.Collector(trafficCollector{app}))
	return m
}

// SetPathCosts sets the path_cost gauges of service to paths, its path
// costs from the local site.
func (a *App) SetPathCosts(service string, paths *linkgraph.Paths) {
	for _, r := range paths.Costs() {
		if r.Reachable {
			a.metrics.pathCost.WithLabelValues(service, r.Site).Set(float64(r.Cost))
		}
	}
}

// NoBackend returns the no_backend_total counter of service: a connection
// (a request) that met no available backend.
func (a *App) NoBackend(service string) prometheus.Counter {
	return refusedCounter{a.metrics.noBackend.WithLabelValues(service), a.HoldCounts(service, "")}
}

// SharedCollector registers c in reg, or returns the collector already
// registered in its place (caddy-l4's pattern: several handlers share one
// registry).
func SharedCollector[C prometheus.Collector](reg *prometheus.Registry, c C) C {
	if reg == nil {
		return c
	}
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}

var liveDesc = prometheus.NewDesc(
	prometheus.BuildFQName(namespace, subsystem, "live_connections"),
	"Proxied connections open right now to each upstream address, across all services and config generations.",
	[]string{"upstream"}, nil)

// liveCollector exports the process-wide live counters of the addresses in
// use or with connections open.
type liveCollector struct{ app *App }

// Describe sends the live connections descriptor.
func (liveCollector) Describe(ch chan<- *prometheus.Desc) { ch <- liveDesc }

// Collect reads every live counter.
func (l liveCollector) Collect(ch chan<- prometheus.Metric) {
	for _, c := range l.app.liveCounters() {
		ch <- prometheus.MustNewConstMetric(liveDesc, prometheus.GaugeValue, float64(c.Live()), c.Address())
	}
}

var connectionsDesc = prometheus.NewDesc(
	prometheus.BuildFQName(namespace, subsystem, "connections_total"),
	"Connections sent to each backend of each service since the config loaded (every dial attempt counts).",
	[]string{"service", "site", "upstream"}, nil)

var gatewayReadyDesc = prometheus.NewDesc(
	prometheus.BuildFQName(namespace, subsystem, "gateway_ready"),
	"Whether each gateway backend (a backend with a readiness URL) last answered ready with a usable route: 1 or 0.",
	[]string{"service", "upstream"}, nil)

var gatewayPathCostDesc = prometheus.NewDesc(
	prometheus.BuildFQName(namespace, subsystem, "gateway_path_cost"),
	"Path cost the pick uses for each gateway backend: the path cost to its site plus the lowest cost among its usable routes (the onward cost of its last ready answer).",
	[]string{"service", "upstream"}, nil)

var liveRequestsDesc = prometheus.NewDesc(
	prometheus.BuildFQName(namespace, subsystem, "live_requests"),
	"Requests in flight right now to each upstream of an HTTP service (lb_policy cost): Caddy's own count, shared by every reverse_proxy using the upstream.",
	[]string{"upstream"}, nil)

// servicesCollector exports what the services report at scrape time:
// counts the balancers keep anyway, so that the pick path touches no
// Prometheus state, gateway readiness and in-flight requests.
type servicesCollector struct{ app *App }

// Describe sends the descriptors of the services' metrics.
func (servicesCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- connectionsDesc
	ch <- gatewayReadyDesc
	ch <- gatewayPathCostDesc
	ch <- liveRequestsDesc
}

// Collect asks every service for its metrics.
func (c servicesCollector) Collect(ch chan<- prometheus.Metric) {
	seen := map[string]bool{}
	for _, s := range c.app.Services() {
		name, _ := s.ServiceName()
		s.CollectMetrics(&ServiceMetrics{ch: ch, service: name, seenUpstreams: seen})
	}
}

// ServiceMetrics takes one service's metrics at scrape time.
type ServiceMetrics struct {
	ch      chan<- prometheus.Metric
	service string
	// upstreams whose live requests were sent, by any service
	seenUpstreams map[string]bool
}

// Connections reports the connections sent to the backend at upstream,
// in site, since the config loaded; for an HTTP service, the requests
// (what a connection is for a layer4 one).
func (m *ServiceMetrics) Connections(site, upstream string, n uint64) {
	m.ch <- prometheus.MustNewConstMetric(connectionsDesc, prometheus.CounterValue, float64(n), m.service, site, upstream)
}

// GatewayReady reports whether the gateway backend at upstream last
// answered ready with a usable route.
func (m *ServiceMetrics) GatewayReady(upstream string, ready bool) {
	v := 0.0
	if ready {
		v = 1
	}
	m.ch <- prometheus.MustNewConstMetric(gatewayReadyDesc, prometheus.GaugeValue, v, m.service, upstream)
}

// GatewayPathCost reports the path cost the pick uses for the gateway
// backend at upstream: the cost to its site plus its onward cost.
func (m *ServiceMetrics) GatewayPathCost(upstream string, cost int64) {
	m.ch <- prometheus.MustNewConstMetric(gatewayPathCostDesc, prometheus.GaugeValue, float64(cost), m.service, upstream)
}

// LiveRequests reports the requests in flight to upstream, Caddy's count;
// an upstream several services use is reported once.
func (m *ServiceMetrics) LiveRequests(upstream string, n int64) {
	if m.seenUpstreams[upstream] {
		return
	}
	m.seenUpstreams[upstream] = true
	m.ch <- prometheus.MustNewConstMetric(liveRequestsDesc, prometheus.GaugeValue, float64(n), upstream)
}

// Interface guards
var (
	_ prometheus.Collector = liveCollector{}
	_ prometheus.Collector = servicesCollector{}
)
