package integration

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
	"github.com/costlb/costlb/integration/netlab"
)

// TestLabAutoCostTable: four auto links whose round trips the wire sets to
// 1, 10, 40 and 80 ms settle at costs near them, all in one Caddy. "Near"
// is against the round trip the test itself measures from site a (the
// median of 5 TCP connects to each site's backend), which adds the wire's
// and the machine's own time to the configured delay: within ±35%, and 1
// for the rounding. The test logs the measured cost of each, the figures
// docs/measured-costs.md gives.
func TestLabAutoCostTable(t *testing.T) {
	rtts := []time.Duration{time.Millisecond, 10 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond}
	sites := []string{"a"}
	for _, rtt := range rtts {
		sites = append(sites, fmt.Sprintf("r%d", rtt.Milliseconds()))
	}
	lab := netlab.New(t, sites...)
	network := []string{"site a"}
	var backends []string
	connect := make([]time.Duration, len(rtts)) // measured from site a
	for i, rtt := range rtts {
		site := sites[i+1]
		lab.SetDelay("a", site, rtt/2)
		be := lab.StartBackend(site, site)
		network = append(network, fmt.Sprintf("link a %s auto", site))
		backends = append(backends, fmt.Sprintf("backend %s %s", site, be.Addr()))
		var times []time.Duration
		for range 5 {
			start := time.Now()
			c, err := lab.Dial("a", "tcp", be.Addr(), dialTimeout)
			if err != nil {
				t.Fatalf("connect from a to %s: %v", site, err)
			}
			times = append(times, time.Since(start))
			c.Close()
		}
		slices.Sort(times)
		connect[i] = times[2]
	}
	listen := labAddr(t, lab, "a")
	caddy := lab.StartCaddy("a", costlbCaddyfile(strings.Join(network, "\n"),
		costlbRoute(listen, "name svc\n%s", strings.Join(backends, "\n"))), "caddyfile")

	near := func(cost int64, rtt time.Duration) bool {
		ms := float64(rtt) / float64(time.Millisecond)
		return float64(cost) >= ms*(1-autoBand)-1 && float64(cost) <= ms*(1+autoBand)+1
	}
	start := time.Now()
	var links map[string]labLink
	harness.WaitFor(t, autoSettle, func() bool {
		links = labLinks(t, caddy)
		for i := range rtts {
			l := links["a-"+sites[i+1]]
			if l.RTTMs == nil || !near(l.Cost, connect[i]) {
				return false
			}
		}
		return true
	}, fmt.Sprintf("auto costs near the connect times measured from site a, %v (wire round trips %v)", connect, rtts))
	var table []string
	for i, rtt := range rtts {
		l := links["a-"+sites[i+1]]
		table = append(table, fmt.Sprintf("wire %v, connect %v: cost %d (rtt_ms %.2f)", rtt, connect[i].Round(10*time.Microsecond), l.Cost, *l.RTTMs))
	}
	t.Logf("settled after %v: %s", time.Since(start).Round(time.Millisecond), strings.Join(table, "; "))
}
