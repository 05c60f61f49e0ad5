package integration

import (
	"fmt"
	"strings"
	"testing"
	"text/template"

	"github.com/costlb/costlb/integration/harness"
)

// HTTP: lb_policy cost in Caddy's reverse_proxy, through real Caddy
// processes and real HTTP requests, held open by the test backends.

// httpSite is one reverse_proxy site of an HTTP test Caddyfile.
type httpSite struct {
	listen    string   // 127.0.0.1:port
	upstreams []string // reverse_proxy upstream addresses ("" for none)
	policy    string   // lines of the lb_policy cost block
	extra     string   // more lines of the reverse_proxy block
}

// httpCaddyfileTemplate is the Caddyfile of httpCaddyfile.
var httpCaddyfileTemplate = template.Must(template.New("http").Parse(`{
	admin {ADMIN}
{{- range .Globals}}
	{{.}}
{{- end}}
	costlb {
{{- range .Network}}
		{{.}}
{{- end}}
	}
}
{{- range .Sites}}
http://{{.Listen}} {
	bind 127.0.0.1
	reverse_proxy {{.Upstreams}} {
		lb_policy cost {
{{- range .Policy}}
			{{.}}
{{- end}}
		}
{{- range .Extra}}
		{{.}}
{{- end}}
	}
}
{{- end}}
`))

// httpCaddyfile returns a Caddyfile with the costlb global option (its body
// is network, one line per option), extra global options, and sites. Lines
// are trimmed, so raw strings can be indented as the code around them.
func httpCaddyfile(network, globals string, sites ...httpSite) string {
	type site struct {
		Listen, Upstreams string
		Policy, Extra     []string
	}
	data := struct {
		Globals, Network []string
		Sites            []site
	}{Globals: nonBlankLines(globals), Network: trimmedLines(network)}
	for _, s := range sites {
		data.Sites = append(data.Sites, site{s.listen, strings.Join(s.upstreams, " "), nonBlankLines(s.policy), nonBlankLines(s.extra)})
	}
	var b strings.Builder
	if err := httpCaddyfileTemplate.Execute(&b, data); err != nil {
		panic(err) // the template is fixed and its data plain strings
	}
	return b.String()
}

// nonBlankLines returns the lines of s that are not blank, trimmed.
func nonBlankLines(s string) []string {
	var out []string
	for _, l := range trimmedLines(s) {
		if l != "" {
			out = append(out, l)
		}
	}
	return out
}

// holdHTTPN sends n requests to url one after another, keeps them in
// flight, and counts which backend each reached. The requests end when
// the test does, or when their backends release them.
func holdHTTPN(t *testing.T, url string, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for i := 0; i < n; i++ {
		name, held, err := harness.HoldHTTP(url, relTimeout)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		t.Cleanup(func() { held.Close() })
		got[name]++
	}
	return got
}

// httpTopology is a site network and HTTP backends placed in it, in
// upstream order.
type httpTopology struct {
	name     string
	network  string
	backends []httpBackendSpec
}

type httpBackendSpec struct {
	name, site string
	path       int64 // the path cost the network gives the site
}

// Skupper's mesh (a two-hop path cheaper than the direct link, two local
// backends, a 9999 backup) and a far service with no local backend at
// all: every request crosses at least one link.
var httpTopologies = []httpTopology{
	{"mesh", `
		site east
		link east west 5
		link west north 1
		link east north 10
		link east dr 9999`,
		[]httpBackendSpec{{"east1", "east", 0}, {"east2", "east", 0}, {"west", "west", 5}, {"north", "north", 6}, {"dr", "dr", 9999}}},
	{"far", `
		site edge
		link edge hub 2
		link hub far 3
		link edge far 10
		link far farther 1
		link edge dr 9999`,
		[]httpBackendSpec{{"hub1", "hub", 2}, {"hub2", "hub", 2}, {"far", "far", 5}, {"farther", "farther", 6}, {"dr", "dr", 9999}}},
}

// TestHTTPDistributionHeld: with requests held in flight, sequential
// requests through a real reverse_proxy land exactly as the rules imply,
// and the admin view and the metrics show them.
func TestHTTPDistributionHeld(t *testing.T) {
	for _, topo := range httpTopologies {
		t.Run(topo.name, func(t *testing.T) {
			var ups, policy []string
			backends := map[string]*harness.HTTPBackend{}
			var rules []ruleBackend
			local := strings.Fields(topo.network)[1]
			for _, s := range topo.backends {
				b := harness.StartHTTPBackend(t, s.name)
				backends[s.name] = b
				ups = append(ups, b.Addr())
				if s.site != local {
					policy = append(policy, fmt.Sprintf("site %s %s", s.site, b.Addr()))
				}
				rules = append(rules, ruleBackend{s.name, s.path})
			}
			listen := harness.FreeAddr(t)
			c := harness.StartCaddy(t, httpCaddyfile(topo.network, "", httpSite{listen: listen, upstreams: ups,
				policy: "name " + topo.name + "\n" + strings.Join(policy, "\n")}), "caddyfile")

			const n = 40
			got := holdHTTPN(t, "http://"+listen+"/hold", n)
			want := expectHeld(rules, nil, n)
			if !sameCounts(got, want) {
				t.Fatalf("%d held requests landed %v, the rules imply %v", n, got, want)
			}
			if got["dr"] != 0 {
				t.Fatalf("the 9999 backup got %d requests while the others are up", got["dr"])
			}
			t.Logf("%d held requests: %v", n, got)
			checkHTTPView(t, c, topo, backends, want)
			for _, b := range backends {
				b.Release()
			}
			waitIdle(t, c, topo.name)
		})
	}
}

// checkHTTPView checks the admin view and the metrics of service
// topo.name against the requests held on each backend.
func checkHTTPView(t *testing.T, c *harness.Caddy, topo httpTopology, backends map[string]*harness.HTTPBackend, held map[string]int) {
	t.Helper()
	s := mustService(t, mustView(t, c), topo.name)
	if s.Kind != "http" || len(s.Backends) != len(topo.backends) {
		t.Fatalf("service %s in /costlb/: kind %q with %d backends, want http with %d", topo.name, s.Kind, len(s.Backends), len(topo.backends))
	}
	live := metricValues(t, c, "caddy_costlb_live_requests")
	total := metricValues(t, c, "caddy_costlb_connections_total")
	for _, spec := range topo.backends {
		addr := backends[spec.name].Addr()
		b := mustBackend(t, s, addr)
		want := int64(held[spec.name])
		if b.Site != spec.site || b.PathCost != spec.path || b.Live != want || b.Perceived != spec.path+want || !b.Available || b.Total != uint64(want) {
			t.Errorf("%s in /costlb/: %+v; want site %s, path cost %d, %d live and in all, perceived %d, available",
				spec.name, *b, spec.site, spec.path, want, spec.path+want)
		}
		if in := backends[spec.name].InFlight(); in != want {
			t.Errorf("%s answers %d requests, want %d", spec.name, in, want)
		}
		if v := live[fmt.Sprintf(`caddy_costlb_live_requests{upstream=%q}`, addr)]; v != float64(want) {
			t.Errorf("caddy_costlb_live_requests of %s = %v, want %d", spec.name, v, want)
		}
		key := fmt.Sprintf(`caddy_costlb_connections_total{service=%q,site=%q,upstream=%q}`, topo.name, spec.site, addr)
		if v := total[key]; v != float64(want) {
			t.Errorf("%s = %v, want %d", key, v, want)
		}
	}
}

// TestHTTPDynamicUpstreams: dynamic upstreams are placed by address, then
// by host alone, else in the local site, and balanced by the same rules.
func TestHTTPDynamicUpstreams(t *testing.T) {
	local := harness.StartHTTPBackend(t, "local")
	west := harness.StartHTTPBackend(t, "west")
	north := harness.StartHTTPBackendOn(t, "north", "127.0.0.2")
	listen := harness.FreeAddr(t)
	c := harness.StartCaddy(t, httpCaddyfile(`
		site east
		link east west 3
		link west north 1`, "", httpSite{
		listen: listen,
		policy: fmt.Sprintf(`
			name dyn
			site west %s
			site north 127.0.0.2`, west.Addr()),
		extra: dynamicMulti(local, west, north),
	}), "caddyfile")

	const n = 20
	got := holdHTTPN(t, "http://"+listen+"/hold", n)
	want := expectHeld([]ruleBackend{{"local", 0}, {"west", 3}, {"north", 4}}, nil, n)
	if !sameCounts(got, want) {
		t.Fatalf("%d held requests over dynamic upstreams landed %v, the rules imply %v", n, got, want)
	}
	s := mustService(t, mustView(t, c), "dyn")
	for _, w := range []struct {
		b    *harness.HTTPBackend
		site string
		path int64
	}{{local, "east", 0}, {west, "west", 3}, {north, "north", 4}} {
		b := mustBackend(t, s, w.b.Addr())
		if b.Site != w.site || b.PathCost != w.path || b.Live != int64(want[w.b.Name()]) {
			t.Errorf("dynamic upstream %s: %+v; want site %s, path cost %d, %d live", w.b.Name(), *b, w.site, w.path, want[w.b.Name()])
		}
	}
	for _, b := range []*harness.HTTPBackend{local, west, north} {
		b.Release()
	}
	waitIdle(t, c, "dyn")
	// with nothing held, every request goes to the local upstream
	for i := 0; i < 5; i++ {
		if status, name, err := harness.GetHTTP("http://"+listen+"/", relTimeout); err != nil || status != 200 || name != "local" {
			t.Fatalf("idle request %d: %d %q %v, want local", i, status, name, err)
		}
	}
}

// dynamicMulti returns a dynamic multi block with one "a" source per
// backend, resolving its IP to its port: a backend given twice is returned
// twice.
func dynamicMulti(backends ...*harness.HTTPBackend) string {
	lines := []string{"dynamic multi {"}
	for _, b := range backends {
		host, port, _ := strings.Cut(b.Addr(), ":")
		lines = append(lines, "a "+host+" "+port)
	}
	return strings.Join(append(lines, "}"), "\n")
}

// TestHTTPNoBackendCounted: a request that meets no available upstream is
// counted once in caddy_costlb_no_backend_total, however many times its
// retries meet none.
func TestHTTPNoBackendCounted(t *testing.T) {
	dead := harness.StartHTTPBackend(t, "dead")
	dead.Stop()
	listen := harness.FreeAddr(t)
	c := harness.StartCaddy(t, httpCaddyfile("site east", "", httpSite{
		listen: listen, upstreams: []string{dead.Addr()}, policy: "name down",
		extra: `
			fail_duration 10s
			lb_try_duration 600ms
			lb_try_interval 100ms`,
	}), "caddyfile")
	for i := 0; i < 2; i++ {
		if status, _, err := harness.GetHTTP("http://"+listen+"/", relTimeout); err != nil || status < 500 {
			t.Fatalf("request %d to a dead upstream: %d %v, want a 5xx", i, status, err)
		}
	}
	if v := metricValues(t, c, "caddy_costlb_no_backend_total")[`caddy_costlb_no_backend_total{service="down"}`]; v != 2 {
		t.Fatalf("caddy_costlb_no_backend_total = %v after 2 requests that met no upstream (each retried for 600ms), want 2", v)
	}
	if b := mustBackend(t, mustService(t, mustView(t, c), "down"), dead.Addr()); b.Healthy || b.Total != 1 {
		t.Fatalf("the dead upstream: %+v; want unhealthy after its one failed dial", *b)
	}
}

// TestHTTPMaxRequests: an upstream at its request cap (Caddy's
// unhealthy_request_count, its default max_requests) is unavailable, so
// requests spill over to the next site, which is load, not failover; with
// every upstream full a request is refused.
func TestHTTPMaxRequests(t *testing.T) {
	east := harness.StartHTTPBackend(t, "east")
	west := harness.StartHTTPBackend(t, "west")
	listen := harness.FreeAddr(t)
	c := harness.StartCaddy(t, httpCaddyfile(`
		site east
		link east west 5`, "", httpSite{
		listen: listen, upstreams: []string{east.Addr(), west.Addr()},
		policy: fmt.Sprintf(`
			name capped
			site west %s`, west.Addr()),
		extra: "unhealthy_request_count 2",
	}), "caddyfile")
	got := holdHTTPN(t, "http://"+listen+"/hold", 4)
	if !sameCounts(got, map[string]int{"east": 2, "west": 2}) {
		t.Fatalf("4 held requests with a cap of 2 landed %v, want east 2 (its cap, though perceived 2 < 5), west 2", got)
	}
	s := mustService(t, mustView(t, c), "capped")
	for _, b := range s.Backends {
		if b.Live != 2 || b.MaxConnections != 2 || b.Available || !b.Healthy {
			t.Errorf("%s at its cap: %+v; want 2 of 2 in flight, healthy, unavailable", b.Address, b)
		}
	}
	if status, _, err := harness.GetHTTP("http://"+listen+"/", relTimeout); err != nil || status != 503 {
		t.Fatalf("with every upstream full a request got %d %v, want 503", status, err)
	}
	if l := shiftLogs(c.Logs(), "capped"); len(l) != 0 {
		t.Fatalf("full upstreams logged %+v; spilling over is load, not failover", l)
	}
	east.Release()
	west.Release()
	waitIdle(t, c, "capped")
	if status, name, err := harness.GetHTTP("http://"+listen+"/", relTimeout); err != nil || status != 200 || name != "east" {
		t.Fatalf("once released: %d %q %v, want east", status, name, err)
	}
}

// TestHTTPDynamicRepeatIsNotAWeight: a dynamic source that returns an
// address twice (here dynamic multi with two overlapping sources) gives one
// backend, not a weight: idle requests alternate between the two
// upstreams, and /costlb/ lists each address once.
func TestHTTPDynamicRepeatIsNotAWeight(t *testing.T) {
	one := harness.StartHTTPBackend(t, "one")
	two := harness.StartHTTPBackend(t, "two")
	listen := harness.FreeAddr(t)
	c := harness.StartCaddy(t, httpCaddyfile("site east", "", httpSite{
		listen: listen, policy: "name dyn", extra: dynamicMulti(one, one, two),
	}), "caddyfile")

	const n = 10
	got := map[string]int{}
	for i := 0; i < n; i++ {
		status, name, err := harness.GetHTTP("http://"+listen+"/", relTimeout)
		if err != nil || status != 200 {
			t.Fatalf("request %d: %d %v", i, status, err)
		}
		got[name]++
	}
	if got["one"] != n/2 || got["two"] != n/2 {
		t.Errorf("%d idle requests went %v; want %d each: the repeated address is one upstream", n, got, n/2)
	}
	s := mustService(t, mustView(t, c), "dyn")
	if len(s.Backends) != 2 {
		t.Fatalf("/costlb/ lists %d backends %+v; want each of the 2 addresses once", len(s.Backends), s.Backends)
	}
	for _, b := range []*harness.HTTPBackend{one, two} {
		if be := mustBackend(t, s, b.Addr()); be.Total != n/2 {
			t.Errorf("%s in /costlb/: connections_total %d, want %d", b.Name(), be.Total, n/2)
		}
	}
}
