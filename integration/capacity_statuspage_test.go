package integration

import (
	"fmt"
	"strings"
	"testing"
)

// capacityStatus is a status.json with one backend of weight 3 ramping up
// after slow start, one of weight 1 and one of weight 2 that is not.
const capacityStatus = `{
	"local_site": "a",
	"sites": [{"name": "a", "path_cost": 0, "hops": 0, "path": ["a"], "reachable": true}],
	"links": [],
	"services": [{"name": "s", "primary_site": "a", "ready": true, "routes": [{"sites": ["a"], "cost": 0}], "backends": [
		{"site": "a", "address": "10.0.0.1:1", "path_cost": 0, "live_connections": 7, "perceived_cost": 7,
		 "healthy": true, "available": true, "max_connections": 0, "connections_total": 9, "weight": 1},
		{"site": "a", "address": "10.0.0.2:1", "path_cost": 0, "live_connections": 2, "perceived_cost": 1,
		 "healthy": true, "available": true, "max_connections": 0, "connections_total": 3, "weight": 2},
		{"site": "a", "address": "10.0.0.3:1", "path_cost": 0, "live_connections": 1, "perceived_cost": 0,
		 "healthy": true, "available": true, "max_connections": 0, "connections_total": 1, "weight": 3,
		 "slow_start": {"share": 0.37, "remaining": "6.3s"}}
	]}],
	"counters": []
}`

// TestStatusPageCapacity: the status page costlb_status serves shows a
// weight other than 1 and a running slow-start ramp beside the perceived
// cost, and nothing more for a backend of weight 1.
func TestStatusPageCapacity(t *testing.T) {
	b := pageWithStatus(t, capacityStatus)
	waitPage(t, b, pageTimeout, "weights and the ramp", func(s domState) string {
		svc, ok := s.service("s")
		if !ok {
			return "no service s"
		}
		for _, want := range []struct {
			addr, weight, shows, hides string
		}{
			{"10.0.0.1:1", "1", "", "weight"},
			{"10.0.0.2:1", "2", "(weight 2)", "slow start"},
			{"10.0.0.3:1", "3", "(weight 3) · slow start 37%, 6.3s left", ""},
		} {
			row, ok := svc.backend(want.addr)
			switch {
			case !ok:
				return "no row for " + want.addr
			case row.Attrs["weight"] != want.weight:
				return fmt.Sprintf("%s: data-weight %q, want %s", want.addr, row.Attrs["weight"], want.weight)
			case !strings.Contains(row.Text, want.shows):
				return fmt.Sprintf("%s shows %q, want %q in it", want.addr, row.Text, want.shows)
			case want.hides != "" && strings.Contains(row.Text, want.hides):
				return fmt.Sprintf("%s shows %q, want no %q", want.addr, row.Text, want.hides)
			}
		}
		return ""
	})
}
