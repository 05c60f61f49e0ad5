package httppolicy

import (
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// benchHTTPService provisions, in this process, a reverse_proxy with n
// static upstreams spread over five sites and the cost policy, and returns
// the policy. Its static pool, provisioned by Caddy, serves as the pool for
// Caddy's own least_conn too.
func benchHTTPService(b *testing.B, n int) *CostSelection {
	ups := make([]string, n)
	bySite := make([][]string, 5)
	for i := range ups {
		ups[i] = fmt.Sprintf("127.0.0.%d:%d", 1+i/60000, 1024+i%60000)
		bySite[i%5] = append(bySite[i%5], fmt.Sprintf("%q", ups[i]))
	}
	var sites []string
	for s := 1; s < 5; s++ {
		if len(bySite[s]) > 0 {
			sites = append(sites, fmt.Sprintf(`{"site": "s%d", "upstreams": [%s]}`, s, strings.Join(bySite[s], ",")))
		}
	}
	net := `{"site": "s0", "links": [{"between": ["s0","s1"], "cost": 3}, {"between": ["s1","s2"], "cost": 3},
		{"between": ["s0","s3"], "cost": 9}, {"between": ["s3","s4"], "cost": 9999}]}`
	return loadHTTP(b, hpConfig(net, hpProxy(ups, "", fmt.Sprintf(`"name": "bench", "sites": [%s]`, strings.Join(sites, ",")))), "bench")
}

// BenchmarkHTTPPick compares the cost policy's pick with Caddy's own
// least_conn over the same provisioned pool of reverse_proxy upstreams.
func BenchmarkHTTPPick(b *testing.B) {
	for _, policy := range []string{"cost", "least_conn"} {
		for _, n := range []int{2, 10, 100, 1000} {
			b.Run(fmt.Sprintf("policy=%s/n=%d", policy, n), func(b *testing.B) {
				p := benchHTTPService(b, n)
				pool := p.staticPool
				var sel reverseproxy.Selector = p
				if policy == "least_conn" {
					sel = reverseproxy.LeastConnSelection{}
				}
				req := httptest.NewRequest("GET", "http://example.com/", nil)
				b.ReportAllocs()
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					if sel.Select(pool, req, nil) == nil {
						b.Fatal("no upstream selected")
					}
				}
			})
		}
	}
}
