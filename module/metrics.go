package module

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
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
		noBackend: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "no_backend_total",
			Help: "Connections refused because no backend of the service was available.",
		}, []string{"service"})),
		pathCost: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: namespace, Subsystem: subsystem, Name: "path_cost",
			Help: "Path cost from the local site to each site, per service (after its link_cost overrides).",
		}, []string{"service", "site"})),
	}
	register(reg, prometheus.Collector(liveCollector{app}))
	register(reg, prometheus.Collector(connectionsCollector{app}))
	register(reg, prometheus.Collector(gatewayCollector{app}))
	register(reg, prometheus.Collector(liveRequestsCollector{app}))
	return m
}

// register registers c, or returns the collector already registered in its
// place (caddy-l4's pattern: several handlers share one registry).
func register[C prometheus.Collector](reg *prometheus.Registry, c C) C {
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

// connectionsCollector exports each service's pick counts, which the
// balancer keeps anyway, so the pick path touches no Prometheus state.
type connectionsCollector struct{ app *App }

// Describe sends the connections descriptor.
func (connectionsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- connectionsDesc }

// Collect reads every backend's pick count.
func (c connectionsCollector) Collect(ch chan<- prometheus.Metric) {
	for _, h := range c.app.snapshotServices() {
		for i := 0; i < h.sel.bal.Len(); i++ {
			st := h.sel.bal.State(i)
			ch <- prometheus.MustNewConstMetric(connectionsDesc, prometheus.CounterValue, float64(st.Picks), h.Name, st.Site, st.Address)
		}
	}
	collectHTTPRequests(c.app, ch)
}

var gatewayReadyDesc = prometheus.NewDesc(
	prometheus.BuildFQName(namespace, subsystem, "gateway_ready"),
	"Whether each gateway backend (a backend with a readiness URL) last answered ready with a usable route: 1 or 0.",
	[]string{"service", "upstream"}, nil)

// gatewayCollector exports each gateway backend's readiness, read from its
// poller at scrape time.
type gatewayCollector struct{ app *App }

// Describe sends the gateway readiness descriptor.
func (gatewayCollector) Describe(ch chan<- *prometheus.Desc) { ch <- gatewayReadyDesc }

// Collect reads every gateway's last answer.
func (c gatewayCollector) Collect(ch chan<- prometheus.Metric) {
	for _, h := range c.app.snapshotServices() {
		for _, g := range h.gws {
			if g == nil {
				continue
			}
			v := 0.0
			if g.Ready() {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(gatewayReadyDesc, prometheus.GaugeValue, v, h.Name, g.upstream)
		}
	}
}

// Interface guards
var (
	_ prometheus.Collector = liveCollector{}
	_ prometheus.Collector = connectionsCollector{}
	_ prometheus.Collector = gatewayCollector{}
)
