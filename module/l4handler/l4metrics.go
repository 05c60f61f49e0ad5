package l4handler

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/costlb/costlb/module"
)

// l4ProxyMetrics are caddy-l4's proxy metrics that its proxy updates per
// connection (caddy_layer4_proxy_connections_total and
// caddy_layer4_proxy_active_connections, by upstream). costlb proxies the
// connections itself, so it updates them: registered with the very
// options caddy-l4 registers them with, they are the same collectors.
// (caddy_layer4_proxy_upstream_healthy stays caddy-l4's active checker's.)
type l4ProxyMetrics struct {
	opened *prometheus.CounterVec
	active *prometheus.GaugeVec
}

func newL4ProxyMetrics(reg *prometheus.Registry) l4ProxyMetrics {
	const ns, sub = "caddy", "layer4_proxy"
	return l4ProxyMetrics{
		opened: module.SharedCollector(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: ns,
			Subsystem: sub,
			Name:      "connections_total",
			Help:      "Total number of connections proxied, labeled by upstream.",
		}, []string{"upstream"})),
		active: module.SharedCollector(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Namespace: ns,
			Subsystem: sub,
			Name:      "active_connections",
			Help:      "Number of connections currently being proxied, labeled by upstream.",
		}, []string{"upstream"})),
	}
}
