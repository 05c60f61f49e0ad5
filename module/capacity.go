package module

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/costlb/costlb/costlb"
)

// Ramps are the slow-start states of HTTP upstreams, process-wide like
// Counters (a layer4 backend's lives in its Counter), so that a reload
// keeps a running ramp.
var Ramps = costlb.NewRampRegistry()

// SlowStartView is a backend's ramp after slow start, while it runs.
type SlowStartView struct {
	// Share is the part of its weight the backend has now, from 0.1 to 1.
	Share float64 `json:"share"`
	// Remaining is the time the ramp has left, to a tenth of a second,
	// as a Caddy duration ("6.3s").
	Remaining string `json:"remaining"`
}

// slowStartOf returns the view of st's ramp, nil when it is not ramping.
func slowStartOf(st costlb.State) *SlowStartView {
	if st.RampLeft <= 0 {
		return nil
	}
	left := max(st.RampLeft.Round(100*time.Millisecond), 100*time.Millisecond)
	return &SlowStartView{Share: float64(st.Share) / 1e6, Remaining: left.String()}
}

var weightDesc = prometheus.NewDesc(
	prometheus.BuildFQName(namespace, subsystem, "backend_weight"),
	"Effective weight of each backend of each service: its weight, times its share of it while it ramps up after slow start (0.1 to 1).",
	[]string{"service", "upstream"}, nil)

// weightCollector exports every backend's effective weight at scrape time.
type weightCollector struct{ app *App }

// Describe sends the weight descriptor.
func (weightCollector) Describe(ch chan<- *prometheus.Desc) { ch <- weightDesc }

// Collect reads every service's backends.
func (c weightCollector) Collect(ch chan<- prometheus.Metric) {
	for _, s := range c.app.Services() {
		name, _ := s.ServiceName()
		for _, b := range s.View().Backends {
			w := float64(b.Weight)
			if b.SlowStart != nil {
				w *= b.SlowStart.Share
			}
			ch <- prometheus.MustNewConstMetric(weightDesc, prometheus.GaugeValue, w, name, b.Address)
		}
	}
}

// Interface guard
var _ prometheus.Collector = weightCollector{}
