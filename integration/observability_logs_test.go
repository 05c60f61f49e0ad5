package integration

// What costlb logs: one line per failover and failback, whether or not
// traffic flows, none for a shift that did not happen, and each pick at debug
// level.

import (
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// TestFailoverLogOncePerTransition: with 8 clients opening connections
// all the time, taking the local site down and up again logs exactly one
// failover and one failback line, and nothing per connection at info level.
func TestFailoverLogOncePerTransition(t *testing.T) {
	east := harness.StartBackend(t, "east")
	west := harness.StartBackend(t, "west")
	listen := harness.FreeAddr(t)
	c := harness.StartCaddy(t, fmt.Sprintf(`{
	admin {ADMIN}
	costlb {
		site east
		link east west 2
	}
	layer4 {
		%s {
			route {
				costlb {
					name logs
					backend east %s
					backend west %s
					health_interval 100ms
					health_timeout 200ms
					fail_duration 500ms
					lb_try_duration 2s
					lb_try_interval 20ms
				}
			}
		}
	}
}`, listen, east.Addr(), west.Addr()), "caddyfile")

	var stop atomic.Bool
	var ok, failed atomic.Int64
	var wg sync.WaitGroup
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if _, err := harness.Once(listen, dialTimeout); err != nil {
					failed.Add(1)
				} else {
					ok.Add(1)
				}
			}
		}()
	}
	// moreOK waits for 50 more connections to succeed, in each phase
	moreOK := func(phase string) {
		t.Helper()
		from := ok.Load()
		harness.WaitFor(t, 20*time.Second, func() bool { return ok.Load() >= from+50 }, "50 connections "+phase)
	}
	moreOK("before the failover")
	east.Stop()
	if err := c.WaitLog("costlb failover", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	moreOK("after the failover")
	east.Restart()
	if err := c.WaitLog("costlb failback", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	moreOK("after the failback")
	stop.Store(true)
	wg.Wait()
	logs := c.Logs()
	t.Logf("%d connections, %d failed, across one failover and one failback", ok.Load(), failed.Load())
	if n := strings.Count(logs, `"msg":"costlb failover"`); n != 1 {
		t.Errorf("%d failover lines, want exactly 1", n)
	}
	if n := strings.Count(logs, `"msg":"costlb failback"`); n != 1 {
		t.Errorf("%d failback lines, want exactly 1", n)
	}
	for _, want := range []string{`"service":"logs"`, `"from_site":"east"`, `"to_site":"west"`, `"reason":"backends in east became unavailable"`} {
		if !strings.Contains(logs, want) {
			t.Errorf("failover line lacks %s", want)
		}
	}
	if n := strings.Count(logs, `"logger":"layer4.handlers.costlb"`); n != 2 {
		t.Errorf("%d info lines from the costlb handler for %d connections, want only the 2 transitions", n, ok.Load())
	}
}

// TestDebugPickLines: at debug level each pick is logged with the
// perceived costs considered.
func TestDebugPickLines(t *testing.T) {
	east := harness.StartBackend(t, "east")
	west := harness.StartBackend(t, "west")
	listen := harness.FreeAddr(t)
	c := harness.StartCaddy(t, fmt.Sprintf(`{
	admin {ADMIN}
	debug
	costlb {
		site east
		link east west 4
	}
	layer4 {
		%s {
			route {
				costlb {
					name dbg
					backend east %s
					backend west %s
				}
			}
		}
	}
}`, listen, east.Addr(), west.Addr()), "caddyfile")
	_, conns := holdN(t, listen, 2)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	if err := c.WaitLog(`"msg":"costlb pick"`, 5*time.Second); err != nil {
		t.Fatal(err)
	}
	// the second pick considered east holding the first connection
	want := fmt.Sprintf(`"chosen":"%s","perceived_costs":["%s@east=1(path 0 + live 1, available true)","%s@west=4(path 4 + live 0, available true)"]`,
		east.Addr(), east.Addr(), west.Addr())
	harness.WaitFor(t, 5*time.Second, func() bool { return strings.Contains(c.Logs(), want) }, "second pick's debug line: "+want)
}

// TestNoShiftWhenUnnamedServicesReorder: two unnamed services, one served
// in east and one in west, swap places in the config. Their default names
// (costlb-0, costlb-1) swap with them, but each service keeps its primary
// site, so no failover or failback is logged.
func TestNoShiftWhenUnnamedServicesReorder(t *testing.T) {
	east, west := harness.StartBackend(t, "east"), harness.StartBackend(t, "west")
	l1, l2 := harness.FreeAddr(t), harness.FreeAddr(t)
	svcEast := fmt.Sprintf(`costlb {
		backend east %s
	}`, east.Addr())
	svcWest := fmt.Sprintf(`costlb {
		backend west %s
	}`, west.Addr())
	const network = `
		site east
		link east west 2`
	c := harness.StartCaddy(t, costlbCaddyfile(network, l4Route{l1, svcEast}, l4Route{l2, svcWest}), "caddyfile")
	for addr, want := range map[string]string{l1: "east", l2: "west"} {
		if name, err := harness.Once(addr, dialTimeout); err != nil || name != want {
			t.Fatalf("through %s: %q %v, want %s", addr, name, err, want)
		}
	}
	// the same two services, listed the other way round
	swapped := costlbCaddyfile(network, l4Route{l2, svcWest}, l4Route{l1, svcEast})
	if status, body, err := c.Load([]byte(strings.ReplaceAll(swapped, "{ADMIN}", c.AdminAddr())), "text/caddyfile"); err != nil || status != 200 {
		t.Fatalf("reload: %d %v %s", status, err, body)
	}
	for addr, want := range map[string]string{l1: "east", l2: "west"} {
		if name, err := harness.Once(addr, dialTimeout); err != nil || name != want {
			t.Fatalf("after the reload, through %s: %q %v, want %s", addr, name, err, want)
		}
	}
	// Unnamed services are numbered in the order Caddy provisions them,
	// which for layer4 servers (a map) is not the config's: find each by
	// its backend.
	v := mustView(t, c)
	for _, b := range []*harness.Backend{east, west} {
		n := 0
		for _, svc := range v.Services {
			if svc.backend(b.Addr()) == nil {
				continue
			}
			n++
			if svc.PrimarySite != b.Name() {
				t.Errorf("service %s (backend %s in %s) has primary site %q after the reload, want %q", svc.Name, b.Addr(), b.Name(), svc.PrimarySite, b.Name())
			}
		}
		if n != 1 {
			t.Errorf("%d services have backend %s, want 1: %+v", n, b.Addr(), v.Services)
		}
	}
	if logs := c.Logs(); strings.Contains(logs, `"msg":"costlb failover"`) || strings.Contains(logs, `"msg":"costlb failback"`) {
		t.Errorf("a reorder of unnamed services logged a shift that never happened:\n%s", logs)
	}
}

// TestFailoverNoticedWithoutTraffic: a service nobody connects to still
// logs its failover and failback, and the admin view's primary site
// follows, within one health interval of the health checks seeing it.
func TestFailoverNoticedWithoutTraffic(t *testing.T) {
	const interval = 300 * time.Millisecond
	east, west := harness.StartBackend(t, "east"), harness.StartBackend(t, "west")
	c := startEastWest(t, "idle", east, west, interval)
	primary := func() string { return mustService(t, mustView(t, c), "idle").PrimarySite }
	harness.WaitFor(t, 5*time.Second, func() bool { return primary() == "east" }, "the idle service's primary site is east")

	east.Stop()
	stopped := time.Now()
	// the active check sees it within an interval, the watch within another
	bound := 2*interval + 500*time.Millisecond
	harness.WaitFor(t, bound, func() bool { return primary() == "west" }, "primary site west after east stopped, with no traffic")
	if err := c.WaitLog(`"msg":"costlb failover"`, time.Second); err != nil {
		t.Fatal(err)
	}
	t.Logf("failover noticed %v after the backend stopped, with no connection", time.Since(stopped).Round(time.Millisecond))
	east.Restart()
	harness.WaitFor(t, bound, func() bool { return primary() == "east" }, "primary site east again after it came back, with no traffic")
	if err := c.WaitLog(`"msg":"costlb failback"`, time.Second); err != nil {
		t.Fatal(err)
	}
	if n := mustBackend(t, mustService(t, mustView(t, c), "idle"), west.Addr()).Total; n != 0 {
		t.Errorf("%d connections went to west: the test meant no traffic", n)
	}
}

// TestFirstPrimaryNotLogged: a service whose first health checks find
// every backend down (they do not listen yet) logs nothing when they come
// up: the first primary site it learns is no failback from an empty site.
// The service first looks one health_interval after it loads, after the
// first checks, which run at once.
//
// east, the primary, comes up first and west only once east is seen up:
// were both restarted together, a health round that checked east just
// before its restart and west just after would see west alone up, and
// east's return a round later would be a real failback from west.
func TestFirstPrimaryNotLogged(t *testing.T) {
	east, west := harness.StartBackend(t, "east"), harness.StartBackend(t, "west")
	east.Stop()
	west.Stop()
	c := startEastWest(t, "late", east, west, time.Second)
	harness.WaitFor(t, 5*time.Second, func() bool { return strings.Count(c.Logs(), `"msg":"host is down"`) == 2 },
		"the first health checks find both backends down")
	east.Restart()
	harness.WaitFor(t, 5*time.Second, func() bool { return mustService(t, mustView(t, c), "late").PrimarySite == "east" },
		"the primary site is east once east listens")
	west.Restart()
	harness.WaitFor(t, 5*time.Second, func() bool {
		bs := mustService(t, mustView(t, c), "late").Backends
		return len(bs) == 2 && bs[0].Healthy && bs[1].Healthy
	}, "both backends healthy once west listens too")
	if p := mustService(t, mustView(t, c), "late").PrimarySite; p != "east" {
		t.Errorf("primary site %q once west is up too, want east", p)
	}
	if l := shiftLogs(c.Logs(), "late"); len(l) != 0 {
		t.Errorf("the first primary site was logged as a shift: %+v", l)
	}
	if logs := c.Logs(); strings.Contains(logs, `"from_site":""`) || strings.Contains(logs, `"to_site":""`) {
		t.Errorf("a line names an empty site:\n%s", logs)
	}
}

// startEastWest starts a Caddy with one layer4 service, name, with
// backend east in site east and west in site west, 2 away, health checked
// every interval.
func startEastWest(t *testing.T, name string, east, west *harness.Backend, interval time.Duration) *harness.Caddy {
	t.Helper()
	return harness.StartCaddy(t, costlbCaddyfile(`
		site east
		link east west 2`, l4Route{harness.FreeAddr(t), fmt.Sprintf(`costlb {
		name %s
		backend east %s
		backend west %s
		health_interval %v
		health_timeout 200ms
	}`, name, east.Addr(), west.Addr(), interval)}), "caddyfile")
}
