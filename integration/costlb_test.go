package integration

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/costlb/costlb/costlb/costlbtest"
	"github.com/costlb/costlb/integration/harness"
)

// liveByAddress returns the live count of every backend of service svc.
func liveByAddress(t *testing.T, c *harness.Caddy, svc string) map[string]int64 {
	t.Helper()
	out := map[string]int64{}
	for _, s := range mustView(t, c).Services {
		if s.Name == svc {
			for _, b := range s.Backends {
				out[b.Address] = b.Live
			}
			return out
		}
	}
	t.Fatalf("service %q not in /costlb/", svc)
	return nil
}

// ruleBackend is a backend as the placement rules see it.
type ruleBackend struct {
	name string
	path int64
}

// expectHeld returns where n sequential connections that all stay open
// land by the reference model of the pick rule, for a fresh config whose
// backends already hold live connections (by name).
func expectHeld(bes []ruleBackend, live map[string]int, n int) map[string]int {
	mbes := make([]costlbtest.Backend, len(bes))
	counts := make(map[string]int64)
	for i, b := range bes {
		mbes[i] = costlbtest.Backend{Key: b.name, Path: b.path}
		counts[b.name] = int64(live[b.name])
	}
	out := map[string]int{}
	for i, k := range costlbtest.New(mbes...).Place(counts, n) {
		if k > 0 {
			out[bes[i].name] += k
		}
	}
	return out
}

// holdN opens n connections one after another, keeps them open, and counts
// which backend each reached.
func holdN(t testing.TB, addr string, n int) (map[string]int, []net.Conn) {
	t.Helper()
	got := map[string]int{}
	var conns []net.Conn
	t.Cleanup(func() {
		for _, c := range conns {
			c.Close()
		}
	})
	for i := 0; i < n; i++ {
		name, c, err := harness.Hold(addr, dialTimeout)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		got[name]++
		conns = append(conns, c)
	}
	return got, conns
}

func sameCounts(a, b map[string]int) bool {
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	for k, v := range b {
		if a[k] != v {
			return false
		}
	}
	return true
}

// TestDistributionHeld: with connections held open, sequential connections
// through a real Caddy land exactly as the rules imply, over a mesh where a
// two-hop path is cheaper than the direct link and a 9999 backup that gets
// nothing while the primaries are up.
func TestDistributionHeld(t *testing.T) {
	east1 := harness.StartBackend(t, "east1")
	east2 := harness.StartBackend(t, "east2")
	west := harness.StartBackend(t, "west")
	north := harness.StartBackend(t, "north")
	dr := harness.StartBackend(t, "dr")
	listen := harness.FreeAddr(t)
	c := harness.StartCaddy(t, fmt.Sprintf(`{
	admin {ADMIN}
	costlb {
		site east
		link east west 5
		link west north 1
		link east north 10
		link east dr 9999
	}
	layer4 {
		%s {
			route {
				costlb {
					name mesh
					backend east %s %s
					backend west %s
					backend north %s
					backend dr %s
				}
			}
		}
	}
}`, listen, east1.Addr(), east2.Addr(), west.Addr(), north.Addr(), dr.Addr()), "caddyfile")

	v := mustView(t, c)
	paths := map[string]int64{}
	for _, s := range v.Sites {
		paths[s.Name] = s.PathCost
	}
	if paths["north"] != 6 || paths["west"] != 5 || paths["dr"] != 9999 || paths["east"] != 0 {
		t.Fatalf("path costs %v, want east 0, west 5, north 6 (via west, not the direct 10), dr 9999", paths)
	}
	rules := []ruleBackend{{"east1", 0}, {"east2", 0}, {"west", 5}, {"north", 6}, {"dr", 9999}}

	const n = 40
	got, _ := holdN(t, listen, n)
	want := expectHeld(rules, nil, n)
	if !sameCounts(got, want) {
		t.Fatalf("%d held connections landed %v, the rules imply %v", n, got, want)
	}
	if got["dr"] != 0 {
		t.Fatalf("backup got %d connections while the primaries are up", got["dr"])
	}
	t.Logf("%d held connections: %v", n, got)
	live := liveByAddress(t, c, "mesh")
	for name, b := range map[string]*harness.Backend{"east1": east1, "east2": east2, "west": west, "north": north, "dr": dr} {
		if live[b.Addr()] != int64(want[name]) {
			t.Errorf("admin API live count of %s = %d, want %d", name, live[b.Addr()], want[name])
		}
	}
}

// TestFailoverAndReturn: stop the primary and new connections reach the
// 9999 backup; restart it and they return.
func TestFailoverAndReturn(t *testing.T) {
	primary := harness.StartBackend(t, "primary")
	backup := harness.StartBackend(t, "backup")
	listen := harness.FreeAddr(t)
	c := harness.StartCaddy(t, fmt.Sprintf(`{
	admin {ADMIN}
	costlb {
		site east
		link east dr 9999
	}
	layer4 {
		%s {
			route {
				costlb {
					name svc
					backend east %s
					backend dr %s
					health_interval 100ms
					health_timeout 200ms
					lb_try_duration 2s
					lb_try_interval 50ms
				}
			}
		}
	}
}`, listen, primary.Addr(), backup.Addr()), "caddyfile")

	for i := 0; i < 5; i++ {
		if name, err := harness.Once(listen, dialTimeout); err != nil || name != "primary" {
			t.Fatalf("before failover: %q %v", name, err)
		}
	}
	primary.Stop()
	start := time.Now()
	harness.WaitFor(t, 5*time.Second, func() bool {
		for _, s := range mustView(t, c).Services {
			return !s.Backends[0].Healthy
		}
		return false
	}, "active health checks mark the primary down")
	t.Logf("primary marked down %v after it stopped", time.Since(start).Round(time.Millisecond))
	for i := 0; i < 5; i++ {
		if name, err := harness.Once(listen, dialTimeout); err != nil || name != "backup" {
			t.Fatalf("after failover connection %d: %q %v", i, name, err)
		}
	}
	if err := c.WaitLog(`"to_site":"dr"`, 5*time.Second); err != nil {
		t.Fatalf("no failover log line: %v", err)
	}
	primary.Restart()
	harness.WaitFor(t, 5*time.Second, func() bool {
		name, err := harness.Once(listen, dialTimeout)
		return err == nil && name == "primary"
	}, "connections return to the restarted primary")
	for i := 0; i < 5; i++ {
		if name, err := harness.Once(listen, dialTimeout); err != nil || name != "primary" {
			t.Fatalf("after failback connection %d: %q %v", i, name, err)
		}
	}
	if n := strings.Count(c.Logs(), "costlb failover"); n != 1 {
		t.Errorf("%d failover log lines, want 1", n)
	}
	if n := strings.Count(c.Logs(), "costlb failback"); n != 1 {
		t.Errorf("%d failback log lines, want 1", n)
	}
}

const reloadConfig = `{
	admin {ADMIN}
	costlb {
		site east
		link east west %d
	}
	layer4 {
		%s {
			route {
				costlb {
					name svc
					backend east %s
					backend west %s
				}
			}
		}
	}
}`

// TestReloadChangesDistribution: POST /load with a new link cost changes
// where new connections go, without closing the held ones, whose counts
// carry over into the new config.
func TestReloadChangesDistribution(t *testing.T) {
	east := harness.StartBackend(t, "east")
	west := harness.StartBackend(t, "west")
	listen := harness.FreeAddr(t)
	c := harness.StartCaddy(t, fmt.Sprintf(reloadConfig, 5, listen, east.Addr(), west.Addr()), "caddyfile")

	got, conns := holdN(t, listen, 4)
	if !sameCounts(got, map[string]int{"east": 4}) {
		t.Fatalf("cost 5: 4 held connections landed %v, want all east", got)
	}
	status, body, err := c.Load([]byte(fmt.Sprintf(reloadConfig, 1, listen, east.Addr(), west.Addr())), "text/caddyfile")
	if err != nil || status != 200 {
		t.Fatalf("reload: %d %v %s", status, err, body)
	}
	for i, conn := range conns {
		if err := harness.EchoCheck(conn, []byte(fmt.Sprintf("still here %d", i))); err != nil {
			t.Fatalf("held connection %d broke on reload: %v", i, err)
		}
	}
	if live := liveByAddress(t, c, "svc"); live[east.Addr()] != 4 || live[west.Addr()] != 0 {
		t.Fatalf("live counts after reload %v, want the 4 held on east", live)
	}
	// east holds 4 (perceived 4), west now costs 1: the next connections
	// follow the rules with the held ones counted.
	got, _ = holdN(t, listen, 4)
	want := expectHeld([]ruleBackend{{"east", 0}, {"west", 1}}, map[string]int{"east": 4}, 4)
	if !sameCounts(got, want) {
		t.Fatalf("cost 1 after reload: 4 more landed %v, the rules imply %v", got, want)
	}
}

// TestChain: two Caddy processes, sites a and b. a's backend in site b is
// b's layer4 listener; each hop places connections by its own counts.
func TestChain(t *testing.T) {
	a1 := harness.StartBackend(t, "a1")
	b1 := harness.StartBackend(t, "b1")
	b2 := harness.StartBackend(t, "b2")
	listenA, listenB := harness.FreeAddr(t), harness.FreeAddr(t)
	cb := harness.StartCaddy(t, fmt.Sprintf(`{
	admin {ADMIN}
	costlb {
		site b
		link a b 2
	}
	layer4 {
		%s {
			route {
				costlb {
					name web
					backend b %s %s
					backend a %s
				}
			}
		}
	}
}`, listenB, b1.Addr(), b2.Addr(), a1.Addr()), "caddyfile")
	ca := harness.StartCaddy(t, fmt.Sprintf(`{
	admin {ADMIN}
	costlb {
		site a
		link a b 2
	}
	layer4 {
		%s {
			route {
				costlb {
					name web
					backend a %s
					backend b %s
				}
			}
		}
	}
}`, listenA, a1.Addr(), listenB), "caddyfile")

	const n = 8
	got, _ := holdN(t, listenA, n)
	// hop a: a1 (0) against site b's listener (2)
	atA := expectHeld([]ruleBackend{{"a1", 0}, {"siteb", 2}}, nil, n)
	// hop b: what a sent to b, over b1, b2 (0) and a1 (2, seen from b)
	atB := expectHeld([]ruleBackend{{"b1", 0}, {"b2", 0}, {"a1", 2}}, nil, atA["siteb"])
	want := map[string]int{"a1": atA["a1"] + atB["a1"], "b1": atB["b1"], "b2": atB["b2"]}
	if !sameCounts(got, want) {
		t.Fatalf("%d held connections through the chain landed %v; the rules imply %v (a sends %v, b places %v)", n, got, want, atA, atB)
	}
	t.Logf("chain: a placed %v, b placed %v", atA, atB)
	if live := liveByAddress(t, ca, "web"); live[a1.Addr()] != int64(atA["a1"]) || live[listenB] != int64(atA["siteb"]) {
		t.Errorf("site a live counts %v, want a1 %d, b's listener %d", live, atA["a1"], atA["siteb"])
	}
	if live := liveByAddress(t, cb, "web"); live[b1.Addr()] != int64(atB["b1"]) || live[b2.Addr()] != int64(atB["b2"]) {
		t.Errorf("site b live counts %v, want b1 %d, b2 %d", live, atB["b1"], atB["b2"])
	}
}

// TestDialFailureReleasesCount: a connection's count on a backend ends when
// its dial fails, not when the retry after lb_try_interval picks again: while
// a client's connection waits between tries to a dead backend, that backend
// shows no live connection.
func TestDialFailureReleasesCount(t *testing.T) {
	dead := harness.StartBackend(t, "dead")
	dead.Stop()
	listen := harness.FreeAddr(t)
	c := harness.StartCaddy(t, fmt.Sprintf(`{
	admin {ADMIN}
	costlb {
		site east
	}
	layer4 {
		%s {
			route {
				costlb {
					name retry
					backend east %s
					lb_try_duration 1500ms
					lb_try_interval 300ms
				}
			}
		}
	}
}`, listen, dead.Addr()), "caddyfile")
	done := make(chan error, 1)
	go func() {
		_, err := harness.Once(listen, 5*time.Second)
		done <- err
	}()
	gaps, tries := sampleRetryGaps(t, c, done)
	t.Logf("%d tries; samples between them, by try: %v", tries, gaps)
	if len(gaps) == 0 {
		t.Fatal("no sample of the view landed while the connection waited between two tries")
	}
	released := 0
	for k, g := range gaps {
		if g.zero > 0 {
			released++
		} else if g.n >= 2 { // one sample may catch the dial; two cannot
			t.Errorf("after try %d, %d samples all showed the dead backend counted while the connection waited for the next try", k, g.n)
		}
	}
	if released == 0 {
		t.Errorf("no sample between tries showed the dead backend's count released (samples %v)", gaps)
	}
	if tries < 4 {
		t.Errorf("%d tries recorded, want about 1500ms / 300ms = 5", tries)
	}
}

// gapSamples counts the samples of the view taken after a given try of a
// connection and before its next: n in all, zero of them showing the
// backend with no live connection.
type gapSamples struct{ n, zero int }

// sampleRetryGaps reads the only backend of the only service of c until
// the connection that sends done ends, and returns its samples by the try
// they followed (the tries the backend had counted), leaving out those
// after the last try, and the number of tries.
func sampleRetryGaps(t *testing.T, c *harness.Caddy, done <-chan error) (map[uint64]gapSamples, uint64) {
	t.Helper()
	byTry := map[uint64]gapSamples{}
	for {
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("a connection to a service whose only backend is dead succeeded")
			}
			last := mustView(t, c).Services[0].Backends[0].Total
			delete(byTry, last)
			delete(byTry, 0)
			return byTry, last
		case <-time.After(10 * time.Millisecond):
		}
		be := mustView(t, c).Services[0].Backends[0]
		g := byTry[be.Total]
		g.n++
		if be.Live == 0 {
			g.zero++
		}
		byTry[be.Total] = g
	}
}
