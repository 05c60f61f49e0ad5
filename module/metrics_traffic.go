package module

import (
	"github.com/prometheus/client_golang/prometheus"
)

var bytesDesc = prometheus.NewDesc(
	prometheus.BuildFQName(namespace, subsystem, "bytes_total"),
	"Bytes proxied to and from each backend of each layer4 service, by direction (to_backend, to_client), counted as they move; kept across reloads.",
	[]string{"service", "upstream", "direction"}, nil)

var failedDialsDesc = prometheus.NewDesc(
	prometheus.BuildFQName(namespace, subsystem, "failed_dials_total"),
	"Dials to each backend of each layer4 service that failed (refused, timed out, TLS or PROXY header failed); kept across reloads.",
	[]string{"service", "upstream"}, nil)

var backendHealthyDesc = prometheus.NewDesc(
	prometheus.BuildFQName(namespace, subsystem, "backend_healthy"),
	"Whether each backend of each service is healthy (active and passive health checks): 1 or 0.",
	[]string{"service", "upstream"}, nil)

var failoversDesc = prometheus.NewDesc(
	prometheus.BuildFQName(namespace, subsystem, "failovers_total"),
	"Failovers of each service since the process started: its primary site moved to a dearer one because backends became unavailable (the 'costlb failover' log line).",
	[]string{"service"}, nil)

var failbacksDesc = prometheus.NewDesc(
	prometheus.BuildFQName(namespace, subsystem, "failbacks_total"),
	"Failbacks of each service since the process started: its primary site moved back to a cheaper one (the 'costlb failback' log line).",
	[]string{"service"}, nil)

// trafficCollector exports, at scrape time, the running totals the data
// path keeps in the history's counts (bytes each way, failed dials), each
// backend's health and each service's failovers and failbacks, for the
// services of the running config.
type trafficCollector struct{ app *App }

// Describe sends the descriptors.
func (trafficCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- bytesDesc
	ch <- failedDialsDesc
	ch <- backendHealthyDesc
	ch <- failoversDesc
	ch <- failbacksDesc
}

// Collect reads the totals and every backend's health.
func (c trafficCollector) Collect(ch chan<- prometheus.Metric) {
	names := map[string]bool{}
	for _, s := range c.app.Services() {
		v := ViewOf(s)
		names[v.Name] = true
		sh := History.ShiftsOf(v.Name)
		ch <- prometheus.MustNewConstMetric(failoversDesc, prometheus.CounterValue, float64(sh.Failovers), v.Name)
		ch <- prometheus.MustNewConstMetric(failbacksDesc, prometheus.CounterValue, float64(sh.Failbacks), v.Name)
		for _, b := range v.Backends {
			h := 0.0
			if b.Healthy {
				h = 1
			}
			ch <- prometheus.MustNewConstMetric(backendHealthyDesc, prometheus.GaugeValue, h, v.Name, b.Address)
		}
	}
	for _, t := range History.Totals() {
		if !names[t.Service] {
			continue // a service of a config that is going away
		}
		ch <- prometheus.MustNewConstMetric(bytesDesc, prometheus.CounterValue, float64(t.ToBackend), t.Service, t.Address, "to_backend")
		ch <- prometheus.MustNewConstMetric(bytesDesc, prometheus.CounterValue, float64(t.ToClient), t.Service, t.Address, "to_client")
		ch <- prometheus.MustNewConstMetric(failedDialsDesc, prometheus.CounterValue, float64(t.FailedDials), t.Service, t.Address)
	}
}

// Interface guard
var _ prometheus.Collector = trafficCollector{}
