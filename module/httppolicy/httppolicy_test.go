package httppolicy

import (
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/costlb/costlb/module"
	"github.com/costlb/costlb/module/internal/moduletest"
)

// hpConfig returns a config with app as the costlb app (omitted when "")
// and one HTTP server whose one route runs handlers, a comma-separated
// list of handler objects.
func hpConfig(app, handlers string) string {
	apps := ""
	if app != "" {
		apps = `"costlb": ` + app + `,`
	}
	return fmt.Sprintf(`{"admin": {"disabled": true}, "logging": {"logs": {"default": {"level": "ERROR"}}}, "apps": {%s
		"http": {"servers": {"s": {"listen": ["127.0.0.1:0"], "automatic_https": {"disable": true},
			"routes": [{"handle": [%s]}]}}}}}`, apps, handlers)
}

// hpProxy returns a reverse_proxy handler with upstreams (dial addresses),
// extra handler fields (may be "") and the cost policy with policy fields.
func hpProxy(upstreams []string, extra, policy string) string {
	var ups []string
	for _, u := range upstreams {
		ups = append(ups, fmt.Sprintf(`{"dial": %q}`, u))
	}
	if extra != "" {
		extra = ", " + extra
	}
	if policy != "" {
		policy = ", " + policy
	}
	return fmt.Sprintf(`{"handler": "reverse_proxy", "upstreams": [%s]%s,
		"load_balancing": {"selection_policy": {"policy": "cost"%s}}}`, strings.Join(ups, ","), extra, policy)
}

// loadHTTP runs cfg in this process and returns its HTTP service name.
func loadHTTP(t testing.TB, cfg, name string) *CostSelection {
	t.Helper()
	return moduletest.Load[*CostSelection](t, cfg, name)
}

var hpUps = []string{"127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.2:9003"}

func TestHTTPPolicyRejects(t *testing.T) {
	proxy := func(policy string) string { return hpConfig(moduletest.Net, hpProxy(hpUps, "", policy)) }
	tests := []struct {
		name   string
		config string
		want   []string
	}{
		{"missing costlb app", hpConfig("", hpProxy(hpUps, "", "")), []string{"lb_policy cost", "the costlb app is not configured", "costlb { site <name> }"}},
		{"unknown site", proxy(`"sites": [{"site": "mars", "upstreams": ["127.0.0.1:9002"]}]`), []string{`site mars 127.0.0.1:9002: unknown site "mars"`, "sites in the network: east, north, west, x, y"}},
		{"site on an island", proxy(`"sites": [{"site": "x", "upstreams": ["127.0.0.1:9002"]}]`), []string{`site x 127.0.0.1:9002: site "x"`, `no path from the local site "east"`}},
		{"local site named by no link (a typo)", hpConfig(`{"site": "eats", "links": [{"between": ["east", "west"], "cost": 5}]}`, hpProxy(hpUps, "", `"sites": [{"site": "west", "upstreams": ["127.0.0.1:9002"]}]`)),
			[]string{`the local site "eats" is named by no link`, `the links name "east", "west"`, `did you mean "east"?`}},
		{"no links, a site entry elsewhere", hpConfig(`{"site": "eats"}`, hpProxy(hpUps, "", `"sites": [{"site": "east", "upstreams": ["127.0.0.1:9002"]}]`)),
			[]string{`site east 127.0.0.1:9002: the local site "eats" is named by no link (there are no links)`, `did you mean "east"?`}},
		{"site without name", proxy(`"sites": [{"upstreams": ["127.0.0.1:9002"]}]`), []string{"site entry for 127.0.0.1:9002 has no site", "one of: east"}},
		{"site entry null", proxy(`"sites": [{"site": "west", "upstreams": ["127.0.0.1:9002"]}, null]`), []string{"site entry #2 of 2 has no site"}},
		{"site without upstreams", proxy(`"sites": [{"site": "west", "upstreams": []}]`), []string{"site west names no upstream"}},
		{"not a static upstream", proxy(`"sites": [{"site": "west", "upstreams": ["127.0.0.1:9999"]}]`),
			[]string{`"127.0.0.1:9999"`, "not one of this reverse_proxy's upstreams", "127.0.0.1:9001, 127.0.0.1:9002, 127.0.0.2:9003"}},
		{"host naming no upstream", proxy(`"sites": [{"site": "west", "upstreams": ["10.9.9.9"]}]`), []string{`"10.9.9.9"`, "not one of this reverse_proxy's upstreams"}},
		{"static upstream twice", hpConfig(moduletest.Net, hpProxy([]string{"127.0.0.1:9001", "127.0.0.1:9001", "127.0.0.1:9002"}, "", "")),
			[]string{`upstream "127.0.0.1:9001" is given twice`, "each address is one upstream", "weight 127.0.0.1:9001 <n>"}},
		{"static upstream twice, once with tcp/", hpConfig(moduletest.Net, hpProxy([]string{"127.0.0.1:9001", "tcp/127.0.0.1:9001"}, "", "")),
			[]string{`upstream "tcp/127.0.0.1:9001" is given twice`}},
		{"upstream twice", proxy(`"sites": [{"site": "west", "upstreams": ["127.0.0.1:9002"]}, {"site": "north", "upstreams": ["127.0.0.1:9002"]}]`),
			[]string{`"127.0.0.1:9002"`, "given twice", `"west"`, `"north"`}},
		{"malformed port", proxy(`"sites": [{"site": "west", "upstreams": ["127.0.0.1:99999"]}]`), []string{`"127.0.0.1:99999"`, "want host:port"}},
		{"placeholder", proxy(`"sites": [{"site": "west", "upstreams": ["{env.HOST}:80"]}]`), []string{`"{env.HOST}:80"`, "placeholders are not supported"}},
		{"port range", proxy(`"sites": [{"site": "west", "upstreams": ["127.0.0.1:9001-9002"]}]`), []string{`"127.0.0.1:9001-9002"`, "give one port"}},
		{"link_cost for a missing link", proxy(`"link_costs": [{"between": ["east", "north"], "cost": 3}]`), []string{`"east"`, `"north"`, "no link between"}},
		{"link_cost cost 0", proxy(`"link_costs": [{"between": ["east", "west"], "cost": 0}]`), []string{"cost 0", moduletest.CostRule}},
		{"unknown field", proxy(`"weight": 3`), []string{`unknown field "weight"`}},
		{"service name too long", proxy(`"name": "` + strings.Repeat("n", 129) + `"`), []string{"lb_policy cost service name", "too long (129 bytes)", "1 to 128 bytes"}},
		{"no upstreams", hpConfig(moduletest.Net, `{"handler": "reverse_proxy", "load_balancing": {"selection_policy": {"policy": "cost", "name": "empty"}}}`),
			[]string{`"empty"`, "has no upstreams"}},
		{"two services named alike", hpConfig(moduletest.Net, hpProxy(hpUps[:1], "", `"name": "shop"`)+","+hpProxy(hpUps[1:], "", `"name": "shop"`)),
			[]string{`"shop"`, "service names must be unique"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := moduletest.Validate(tc.config)
			if err == nil {
				t.Fatalf("accepted; want an error containing %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not contain %q:\n%v", w, err)
				}
			}
		})
	}
}

// TestHTTPPolicyPlacesUpstreams: static upstreams are placed by address,
// then by host, else locally, with the service's own link costs. An
// address's entry wins over its host's (127.0.0.2:9004 is in west, the
// other upstream of host 127.0.0.2 in north).
func TestHTTPPolicyPlacesUpstreams(t *testing.T) {
	ups := []string{"127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.2:9003", "127.0.0.2:9004"}
	p := loadHTTP(t, hpConfig(moduletest.Net, hpProxy(ups, "", `"name": "shop",
		"sites": [{"site": "west", "upstreams": ["127.0.0.1:9002", "127.0.0.2:9004"]}, {"site": "north", "upstreams": ["127.0.0.2"]}],
		"link_costs": [{"between": ["west", "north"], "cost": 7}]`)), "shop")
	sv := module.ViewOf(p)
	if sv.Kind != "http" || len(sv.Backends) != 4 {
		t.Fatalf("view %+v", sv)
	}
	want := []struct {
		site string
		cost int64
	}{{"east", 0}, {"west", 5}, {"north", 12}, {"west", 5}}
	for i, b := range sv.Backends {
		if b.Address != ups[i] || b.Site != want[i].site || b.PathCost != want[i].cost {
			t.Errorf("backend %d: %s in %s at path cost %d; want %s in %s at %d", i, b.Address, b.Site, b.PathCost, ups[i], want[i].site, want[i].cost)
		}
	}
}

// TestHTTPPolicyDynamicPools: a dynamic pool is placed by address, then by
// host, else locally; the same addresses reuse one balancer, whatever
// Upstream values carry them, and another set of addresses gets its own.
func TestHTTPPolicyDynamicPools(t *testing.T) {
	p := loadHTTP(t, hpConfig(moduletest.Net, `{"handler": "reverse_proxy",
		"dynamic_upstreams": {"source": "a", "name": "localhost", "port": "9001"},
		"load_balancing": {"selection_policy": {"policy": "cost", "name": "dyn",
			"sites": [{"site": "west", "upstreams": ["10.1.0.1:8080"]}, {"site": "north", "upstreams": ["10.2.0.1"]}]}}}`), "dyn")
	if v := module.ViewOf(p); len(v.Backends) != 0 {
		t.Fatalf("a dynamic-only service shows backends before any request: %+v", v.Backends)
	}
	pool := func(dials ...string) reverseproxy.UpstreamPool {
		var out reverseproxy.UpstreamPool
		for _, d := range dials {
			out = append(out, &reverseproxy.Upstream{Dial: d})
		}
		return out
	}
	dials := []string{"10.1.0.1:8080", "10.2.0.1:8443", "10.1.0.1:9090"}
	first := pool(dials...)
	if p.Select(first, nil, nil) == nil {
		t.Fatal("no upstream selected")
	}
	pb := p.current.Load()
	for i, site := range []string{"west", "north", "east"} {
		if got := pb.bal.Backend(i).Site; got != site {
			t.Errorf("%s placed in %s, want %s", dials[i], got, site)
		}
	}
	for k := 0; k < 5; k++ {
		if p.Select(pool(dials...), nil, nil) == nil {
			t.Fatal("no upstream selected")
		}
	}
	if p.current.Load() != pb || len(p.dynamic) != 1 {
		t.Fatalf("the same addresses built %d balancers", len(p.dynamic))
	}
	if p.Select(pool(dials[:2]...), nil, nil) == nil || p.current.Load() == pb || len(p.dynamic) != 2 {
		t.Fatal("other addresses did not get their own balancer")
	}
	if p.Select(pool(), nil, nil) != nil {
		t.Fatal("an empty pool gave an upstream")
	}
}

// TestHTTPPolicyDynamicRepeats: an address a dynamic source returns twice
// is one backend, not a weight: equal idle upstreams share the requests
// evenly, the view lists the address once, and the upstream returned for
// it is its first place in the pool.
func TestHTTPPolicyDynamicRepeats(t *testing.T) {
	p := loadHTTP(t, hpConfig(moduletest.Net, `{"handler": "reverse_proxy",
		"dynamic_upstreams": {"source": "a", "name": "localhost", "port": "9001"},
		"load_balancing": {"selection_policy": {"policy": "cost", "name": "dyn"}}}`), "dyn")
	pool := reverseproxy.UpstreamPool{{Dial: "10.0.0.1:80"}, {Dial: "10.0.0.1:80"}, {Dial: "10.0.0.2:80"}, {Dial: "tcp/10.0.0.2:80"}}
	got := map[*reverseproxy.Upstream]int{}
	for k := 0; k < 10; k++ {
		u := p.Select(pool, nil, nil)
		if u == nil {
			t.Fatal("no upstream selected")
		}
		got[u]++
	}
	if got[pool[0]] != 5 || got[pool[2]] != 5 {
		t.Errorf("10 requests went %d to %s (first place), %d to %s (first place), %d and %d to the repeats; want 5 and 5",
			got[pool[0]], pool[0].Dial, got[pool[2]], pool[2].Dial, got[pool[1]], got[pool[3]])
	}
	v := p.View()
	if len(v.Backends) != 2 || v.Backends[0].Address != "10.0.0.1:80" || v.Backends[1].Address != "10.0.0.2:80" {
		t.Fatalf("view backends %+v; want 10.0.0.1:80 and 10.0.0.2:80 once each", v.Backends)
	}
	for _, b := range v.Backends {
		if b.ConnectionsTotal != 5 {
			t.Errorf("%s: connections_total %d, want 5", b.Address, b.ConnectionsTotal)
		}
	}
}

// TestHTTPSelectDoesNotAllocate: the steady-state pick allocates nothing,
// for the static pool and for a dynamic pool whose Upstream values are new
// on every request.
func TestHTTPSelectDoesNotAllocate(t *testing.T) {
	p := loadHTTP(t, hpConfig(moduletest.Net, hpProxy(hpUps, "", `"name": "shop", "sites": [{"site": "west", "upstreams": ["127.0.0.1:9002"]}]`)), "shop")
	staticPool := p.staticPool
	if a := testing.AllocsPerRun(1000, func() { p.Select(staticPool, nil, nil) }); a != 0 {
		t.Errorf("static pool: %v allocations per pick", a)
	}
	dyn := [2]reverseproxy.UpstreamPool{}
	for k := range dyn {
		for _, d := range []string{"10.0.0.1:80", "10.0.0.2:80", "10.0.0.3:80"} {
			dyn[k] = append(dyn[k], &reverseproxy.Upstream{Dial: d})
		}
	}
	p.Select(dyn[0], nil, nil) // the first sight of a pool builds its balancer
	k := 0
	if a := testing.AllocsPerRun(1000, func() { k ^= 1; p.Select(dyn[k], nil, nil) }); a != 0 {
		t.Errorf("dynamic pool: %v allocations per pick", a)
	}
}

// TestHTTPSelectConcurrent: concurrent picks over changing dynamic pools,
// with the view and metrics read meanwhile (run with -race), keep one
// balancer per set of addresses and count every pick once.
func TestHTTPSelectConcurrent(t *testing.T) {
	p := loadHTTP(t, hpConfig(moduletest.Net, `{"handler": "reverse_proxy",
		"dynamic_upstreams": {"source": "a", "name": "localhost", "port": "9001"},
		"load_balancing": {"selection_policy": {"policy": "cost", "name": "dyn",
			"sites": [{"site": "west", "upstreams": ["10.1.0.1"]}]}}}`), "dyn")
	sets := [][]string{
		{"10.0.0.1:80", "10.1.0.1:80"},
		{"10.0.0.1:80", "10.1.0.1:80", "10.1.0.1:81"},
		{"10.0.0.2:80"},
	}
	const workers, picks = 4, 2000
	var wg sync.WaitGroup
	done := make(chan struct{})
	go func() {
		for {
			select {
			case <-done:
				return
			default:
				_ = p.app.View()
				_ = p.Routes()
			}
		}
	}()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for k := 0; k < picks; k++ {
				var pool reverseproxy.UpstreamPool
				for _, d := range sets[(w+k)%len(sets)] {
					pool = append(pool, &reverseproxy.Upstream{Dial: d})
				}
				if p.Select(pool, nil, nil) == nil {
					t.Error("no upstream selected")
					return
				}
			}
		}(w)
	}
	wg.Wait()
	close(done)
	if len(p.dynamic) != len(sets) {
		t.Errorf("%d balancers for %d sets of addresses", len(p.dynamic), len(sets))
	}
	var total uint64
	for _, c := range p.totals {
		total += c.Load()
	}
	if total != workers*picks {
		t.Errorf("%d picks counted, want %d", total, workers*picks)
	}
}
