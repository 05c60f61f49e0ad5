package httppolicy

import (
	"github.com/prometheus/client_golang/prometheus"
)

var liveRequestsDesc = prometheus.NewDesc(
	prometheus.BuildFQName(namespace, subsystem, "live_requests"),
	"Requests in flight right now to each upstream of an HTTP service (lb_policy cost): Caddy's own count, shared by every reverse_proxy using the upstream.",
	[]string{"upstream"}, nil)

// liveRequestsCollector exports the in-flight requests of the upstreams of
// the HTTP services, read from Caddy's hosts at scrape time.
type liveRequestsCollector struct{ app *App }

// Describe sends the live requests descriptor.
func (liveRequestsCollector) Describe(ch chan<- *prometheus.Desc) { ch <- liveRequestsDesc }

// Collect reads the in-flight count of every upstream once.
func (l liveRequestsCollector) Collect(ch chan<- prometheus.Metric) {
	seen := map[string]bool{}
	for _, p := range l.app.snapshotHTTP() {
		pb := p.current.Load()
		if pb == nil {
			continue
		}
		for i := 0; i < pb.bal.Len(); i++ {
			st := pb.bal.State(i)
			if seen[st.Address] {
				continue
			}
			seen[st.Address] = true
			ch <- prometheus.MustNewConstMetric(liveRequestsDesc, prometheus.GaugeValue, float64(st.Live), st.Address)
		}
	}
}

// collectHTTPRequests sends the request counts of every HTTP service's
// upstreams as connections_total (for an HTTP service, a request is what a
// connection is for a layer4 one): every upstream address the service has
// sent requests to since the config loaded, dynamic ones included.
func collectHTTPRequests(app *App, ch chan<- prometheus.Metric) {
	for _, p := range app.snapshotHTTP() {
		p.mu.Lock()
		for addr, n := range p.totals {
			ch <- prometheus.MustNewConstMetric(connectionsDesc, prometheus.CounterValue, float64(n.Load()), p.Name, p.siteFor(addr), addr)
		}
		p.mu.Unlock()
	}
}

// Interface guard
var _ prometheus.Collector = liveRequestsCollector{}
