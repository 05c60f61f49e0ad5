package l4handler

import (
	"reflect"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
)

// TestCapacityCaddyfile: "weight <n>" in a backend block gives every
// address of the line its "weight", and "slow_start" the service's
// "slow_start"; caddy-l4's own upstream weight stays unset.
func TestCapacityCaddyfile(t *testing.T) {
	h := mustHandler(t, `costlb {
		backend east 10.0.0.1:5432 10.0.0.2:5432 {
			weight 3
		}
		backend west 10.1.0.1:5432
		slow_start 10s
	}`)
	got := pvGeneric(t, caddyconfig.JSON(h, nil))
	want := pvGeneric(t, []byte(`{
		"backends": [
			{"site": "east", "dial": ["10.0.0.1:5432"], "weight": 3},
			{"site": "east", "dial": ["10.0.0.2:5432"], "weight": 3},
			{"site": "west", "dial": ["10.1.0.1:5432"]}
		],
		"slow_start": 10000000000
	}`))
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("JSON\n%v\nwant\n%v", got, want)
	}
	if h.Backends[0].Upstream.Weight != 0 {
		t.Errorf("caddy-l4's upstream weight is %d, want it unset", h.Backends[0].Upstream.Weight)
	}
}
