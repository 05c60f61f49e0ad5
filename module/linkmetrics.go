package module

import "github.com/prometheus/client_golang/prometheus"

var linkCostDesc = prometheus.NewDesc(
	prometheus.BuildFQName(namespace, subsystem, "link_cost"),
	"Cost of each link of the site network as the path costs use it now: the configured cost, or for a link with cost auto the measured one (9998 until the first measurement).",
	[]string{"a", "b"}, nil)

var linkRTTDesc = prometheus.NewDesc(
	prometheus.BuildFQName(namespace, subsystem, "link_rtt_seconds"),
	"Round trip measured over each link with cost auto, smoothed, in seconds; absent until the first measurement.",
	[]string{"a", "b"}, nil)

// linkCollector exports the links' costs and measured round trips, read
// at scrape time.
type linkCollector struct{ app *App }

// Describe sends the link descriptors.
func (linkCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- linkCostDesc
	ch <- linkRTTDesc
}

// Collect reads every link's cost and round trip.
func (c linkCollector) Collect(ch chan<- prometheus.Metric) {
	for _, l := range c.app.linkViews() {
		ch <- prometheus.MustNewConstMetric(linkCostDesc, prometheus.GaugeValue, float64(l.Cost), l.Between[0], l.Between[1])
		if l.RTTMs != nil {
			ch <- prometheus.MustNewConstMetric(linkRTTDesc, prometheus.GaugeValue, *l.RTTMs/1000, l.Between[0], l.Between[1])
		}
	}
}

// Interface guard
var _ prometheus.Collector = linkCollector{}
