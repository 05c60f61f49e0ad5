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
// upstreams serve as the pool for caddy-l4's own policies.
func benchService(b *testing.B, n int) *Handler {
	var bes []string
	for i := 0; i < n; i++ {
		bes = append(bes, fmt.Sprintf(`{"site": "s%d", "dial": ["127.0.0.%d:%d"]}`, i%5, 1+i/60000, 1024+i%60000))
	}
	cfg := fmt.Sprintf(`{"admin": {"disabled": true}, "logging": {"logs": {"default": {"level": "ERROR"}}}, "apps": {
		"costlb": {"site": "s0", "links": [{"between": ["s0","s1"], "cost": 3}, {"between": ["s1","s2"], "cost": 3},
			{"between": ["s0","s3"], "cost": 9}, {"between": ["s3","s4"], "cost": 9999}]},
		"layer4": {"servers": {"s": {"listen": ["127.0.0.1:0"], "routes": [{"handle": [{
			"handler": "costlb", "name": "bench", "backends": [%s]}]}]}}}}}`, strings.Join(bes, ","))
	return loadConfig(b, cfg, "bench")
}

// BenchmarkPick compares costlb's pick with caddy-l4's least_conn and random
// selection policies on the same pool of provisioned l4proxy upstreams. Each
// costlb iteration is a whole connection's bookkeeping: pick, count, release.
func BenchmarkPick(b *testing.B) {
	for _, policy := range []string{"cost", "least_conn", "random"} {
		for _, n := range []int{2, 10, 100, 1000} {
			b.Run(fmt.Sprintf("policy=%s/n=%d", policy, n), func(b *testing.B) {
				h := benchService(b, n)
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
