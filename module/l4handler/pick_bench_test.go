package l4handler

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/mholt/caddy-l4/layer4"
	"github.com/mholt/caddy-l4/modules/l4proxy"

	"github.com/costlb/costlb/costlb"
)

// benchService provisions, in this process, a costlb service with n backends
// spread over five sites, and returns it. The same provisioned caddy-l4
// upstreams serve as the pool for caddy-l4's own policies. weighted gives
// the backends weights 1 to 3 and the service slow start, which takes the
// weighted pick.
func benchService(b *testing.B, n int, weighted bool) *Handler {
	var bes []string
	for i := 0; i < n; i++ {
		w := ""
		if weighted {
			w = fmt.Sprintf(`, "weight": %d`, 1+i%3)
		}
		bes = append(bes, fmt.Sprintf(`{"site": "s%d", "dial": ["127.0.0.%d:%d"]%s}`, i%5, 1+i/60000, 1024+i%60000, w))
	}
	slow := ""
	if weighted {
		slow = `, "slow_start": "10s"`
	}
	cfg := fmt.Sprintf(`{"admin": {"disabled": true}, "logging": {"logs": {"default": {"level": "ERROR"}}}, "apps": {
		"costlb": {"site": "s0", "links": [{"between": ["s0","s1"], "cost": 3}, {"between": ["s1","s2"], "cost": 3},
			{"between": ["s0","s3"], "cost": 9}, {"between": ["s3","s4"], "cost": 9999}]},
		"layer4": {"servers": {"s": {"listen": ["127.0.0.1:0"], "routes": [{"handle": [{
			"handler": "costlb", "name": "bench", "backends": [%s]%s}]}]}}}}}`, strings.Join(bes, ","), slow)
	return loadConfig(b, cfg, "bench")
}

// BenchmarkPick compares costlb's pick with caddy-l4's least_conn and random
// selection policies on the same pool of provisioned l4proxy upstreams. Each
// costlb iteration is a whole connection's bookkeeping: pick, count, release.
// cost-weighted is costlb with weights and slow start (the exact weighted
// comparison).
func BenchmarkPick(b *testing.B) {
	for _, policy := range []string{"cost", "cost-weighted", "least_conn", "random"} {
		for _, n := range []int{2, 10, 100, 1000} {
			b.Run(fmt.Sprintf("policy=%s/n=%d", policy, n), func(b *testing.B) {
				h := benchService(b, n, policy == "cost-weighted")
				pool := h.upstreams()
				conn := &layer4.Connection{Context: context.Background()}
				var sel l4proxy.Selector
				switch policy {
				case "least_conn":
					sel = new(l4proxy.LeastConnSelection)
				case "random":
					sel = new(l4proxy.RandomSelection)
				}
				var t costlb.Ticket
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if sel == nil { // cost: the data path's pick, then the release at the connection's end
						if h.pick(&t) < 0 {
							b.Fatal("no backend picked")
						}
						t.Release()
						continue
					}
					if sel.Select(pool, conn) == nil {
						b.Fatal("no upstream selected")
					}
				}
			})
		}
	}
}
