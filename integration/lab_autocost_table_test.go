package integration

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
	"github.com/costlb/costlb/integration/netlab"
)

// TestLabAutoCostTable: four auto links whose round trips the wire sets to
// 1, 10, 40 and 80 ms settle at costs near them (never below, at most 35%
// and the scheduling allowance above), all in one Caddy; the test logs the
// measured cost of each, the figures docs/measured-costs.md gives.
func TestLabAutoCostTable(t *testing.T) {
	rtts := []time.Duration{time.Millisecond, 10 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond}
	sites := []string{"a"}
	for _, rtt := range rtts {
		sites = append(sites, fmt.Sprintf("r%d", rtt.Milliseconds()))
	}
	lab := netlab.New(t, sites...)
	network := []string{"site a"}
	var backends []string
	for i, rtt := range rtts {
		site := sites[i+1]
		lab.SetDelay("a", site, rtt/2)
		be := lab.StartBackend(site, site)
		network = append(network, fmt.Sprintf("link a %s auto", site))
		backends = append(backends, fmt.Sprintf("backend %s %s", site, be.Addr()))
	}
	listen := labAddr(t, lab, "a")
	caddy := lab.StartCaddy("a", costlbCaddyfile(strings.Join(network, "\n"),
		costlbRoute(listen, "name svc\n%s", strings.Join(backends, "\n"))), "caddyfile")

	start := time.Now()
	var links map[string]labLink
	harness.WaitFor(t, autoSettle, func() bool {
		links = labLinks(t, caddy)
		for i, rtt := range rtts {
			l := links["a-"+sites[i+1]]
			if l.RTTMs == nil || !costNear(l.Cost, rtt) {
				return false
			}
		}
		return true
	}, fmt.Sprintf("auto costs near the round trips %v", rtts))
	var table []string
	for i, rtt := range rtts {
		l := links["a-"+sites[i+1]]
		table = append(table, fmt.Sprintf("rtt %v: cost %d (rtt_ms %.2f)", rtt, l.Cost, *l.RTTMs))
	}
	t.Logf("settled after %v: %s", time.Since(start).Round(time.Millisecond), strings.Join(table, "; "))
}
