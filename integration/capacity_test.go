package integration

// Capacity: backend weights and slow start, through real Caddy processes,
// real TCP connections and real HTTP requests held open.

import (
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/costlb/costlb/costlb/costlbtest"
	"github.com/costlb/costlb/integration/harness"
)

// lbWeighted is the part of a backend of GET /costlb/ about its capacity.
type lbWeighted struct {
	Services []struct {
		Name     string `json:"name"`
		Backends []struct {
			Address   string  `json:"address"`
			Weight    int64   `json:"weight"`
			SlowStart *lbRamp `json:"slow_start"`
		} `json:"backends"`
	} `json:"services"`
}

// slowStart returns the ramp of backend addr of service svc, nil if none.
func (v lbWeighted) slowStart(svc, addr string) *lbRamp {
	for _, s := range v.Services {
		for _, b := range s.Backends {
			if s.Name == svc && b.Address == addr {
				return b.SlowStart
			}
		}
	}
	return nil
}

// lbRamp is a backend's slow-start ramp in GET /costlb/.
type lbRamp struct {
	Share     float64 `json:"share"`
	Remaining string  `json:"remaining"`
}

// weightedBackend is a backend of a capacity test: its name, site, the
// path cost to the site and its weight.
type weightedBackend struct {
	name, site string
	path       int64
	weight     int64
}

// expectWeighted returns where n connections that all stay open land by
// the reference model of the pick rule, with weights.
func expectWeighted(bes []weightedBackend, n int) map[string]int {
	mbes := make([]costlbtest.Backend, len(bes))
	for i, b := range bes {
		mbes[i] = costlbtest.Backend{Key: b.name, Path: b.path, Weight: b.weight}
	}
	out := map[string]int{}
	for i, k := range costlbtest.New(mbes...).Place(map[string]int64{}, n) {
		if k > 0 {
			out[bes[i].name] = k
		}
	}
	return out
}

// TestCapacityWeightsHeld: backends of weights 1, 3 (local) and 2 (a
// remote site at cost 2) holding 60 connections hold what the rule
// path cost + live ÷ weight predicts; the view and the metrics show the
// weights.
func TestCapacityWeightsHeld(t *testing.T) {
	bes := []weightedBackend{{"e1", "east", 0, 1}, {"e3", "east", 0, 3}, {"w2", "west", 2, 2}}
	addrs := map[string]string{}
	var lines []string
	for _, b := range bes {
		hb := harness.StartBackend(t, b.name)
		addrs[b.name] = hb.Addr()
		lines = append(lines, fmt.Sprintf("backend %s %s {\nweight %d\n}", b.site, hb.Addr(), b.weight))
	}
	listen := harness.FreeAddr(t)
	c := harness.StartCaddy(t, costlbCaddyfile("site east\nlink east west 2",
		l4Route{listen, "costlb {\nname weighted\n" + strings.Join(lines, "\n") + "\n}"}), "caddyfile")

	const n = 60
	want := expectWeighted(bes, n)
	if want["e1"] >= want["e3"] || want["w2"] == 0 {
		t.Fatalf("the model places %v: want e3 above e1 and some on w2", want)
	}
	got, _ := holdN(t, listen, n)
	if !sameCounts(got, want) {
		t.Fatalf("%d held connections landed %v, the rule (live ÷ weight) predicts %v", n, got, want)
	}
	t.Logf("FIGURES weights 1/3/2 (w2 remote at cost 2), %d held: %v", n, got)

	var v lbWeighted
	getJSON(t, c.AdminURL()+"/costlb/", &v)
	weights := map[string]int64{}
	for _, s := range v.Services {
		for _, b := range s.Backends {
			weights[b.Address] = b.Weight
		}
	}
	m := metricValues(t, c, "caddy_costlb_backend_weight")
	for _, b := range bes {
		if weights[addrs[b.name]] != b.weight {
			t.Errorf("%s: weight %d in /costlb/, want %d", b.name, weights[addrs[b.name]], b.weight)
		}
		key := fmt.Sprintf(`caddy_costlb_backend_weight{service="weighted",upstream=%q}`, addrs[b.name])
		if m[key] != float64(b.weight) {
			t.Errorf("%s = %v, want %d", key, m[key], b.weight)
		}
	}
}

// rampShare runs one recovery: backends a and b share 20 held connections,
// b's end, b's listener stops (its health check fails), a takes 10 more
// (holding 20), b comes back, and the test holds 20 new connections as
// fast as it can. It returns how many of those opened within 2 s of b
// being seen available again went to b, and how many were opened then.
func rampShare(t *testing.T, slowStart string) (toB, all int) {
	a, b := harness.StartBackend(t, "a"), harness.StartBackend(t, "b")
	listen := harness.FreeAddr(t)
	opt := ""
	if slowStart != "" {
		opt = "slow_start " + slowStart
	}
	config := func(timeout string) string {
		return costlbCaddyfile("site east", l4Route{listen, fmt.Sprintf(`costlb {
			name ramp
			backend east %s %s
			health_interval 50ms
			health_timeout %s
			%s
		}`, a.Addr(), b.Addr(), timeout, opt)})
	}
	c := harness.StartCaddy(t, config("1s"), "caddyfile")
	waitHealthy(t, c, "ramp")
	if r := rampOf(t, c, b.Addr()); r != nil {
		t.Fatalf("a ramp at process start: %+v", r)
	}
	var onB []net.Conn
	for i := range 20 {
		name, conn, err := harness.Hold(listen, dialTimeout)
		if err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		t.Cleanup(func() { conn.Close() })
		if name == "b" {
			onB = append(onB, conn)
		}
	}
	if len(onB) != 10 {
		t.Fatalf("%d of 20 held connections went to b, want 10", len(onB))
	}
	// b's clients leave (a stopped backend's proxied connections end when
	// their clients do), then b stops
	for _, conn := range onB {
		_ = closeAndDrain(conn)
	}
	waitCounterEquals(t, c, b.Addr(), 0)
	b.Stop()
	waitBackendState(t, c, "ramp", b.Addr(), false)
	if got, _ := holdN(t, listen, 10); got["a"] != 10 {
		t.Fatalf("with b down, 10 held connections went %v, want all on a", got)
	}
	b.Restart()
	back := waitBackendState(t, c, "ramp", b.Addr(), true)
	if slowStart != "" {
		// the ramp starts at the first pick or health watch (every
		// health_interval) that sees b back
		var r *lbRamp
		harness.WaitFor(t, relTimeout, func() bool { r = rampOf(t, c, b.Addr()); return r != nil }, "b's ramp in /costlb/")
		if r.Share >= 0.5 {
			t.Errorf("b just back: slow_start %+v in /costlb/, want a ramp under half its weight", r)
		}
		key := fmt.Sprintf(`caddy_costlb_backend_weight{service="ramp",upstream=%q}`, b.Addr())
		if w := metricValues(t, c, "caddy_costlb_backend_weight")[key]; w < 0.1 || w >= 0.5 {
			t.Errorf("b just back: %s = %v, want its effective weight, 0.1 to 0.5", key, w)
		}
		t.Logf("b just back: /costlb/ slow_start share %v, remaining %s", r.Share, r.Remaining)
	}
	for range 20 {
		name, conn, err := harness.Hold(listen, dialTimeout)
		if err != nil {
			t.Fatalf("after b came back: %v", err)
		}
		t.Cleanup(func() { conn.Close() })
		if time.Since(back) > 2*time.Second {
			break
		}
		all++
		if name == "b" {
			toB++
		}
	}
	if all < 10 {
		t.Fatalf("only %d connections opened within 2 s of b coming back", all)
	}
	if slowStart != "" {
		// a reload keeps the running ramp where it was, and starts none
		before := rampOf(t, c, b.Addr())
		if st, body, err := c.Load([]byte(config("2s")), "text/caddyfile"); err != nil || st != 200 {
			t.Fatalf("reload: %d %s %v", st, body, err)
		}
		after := rampOf(t, c, b.Addr())
		if before == nil || after == nil || after.Share < before.Share || after.Share >= 1 {
			t.Errorf("across a reload the ramp went from %+v to %+v; want it to go on", before, after)
		} else {
			t.Logf("across a reload: share %v (%s left) then %v (%s left)", before.Share, before.Remaining, after.Share, after.Remaining)
		}
		if r := rampOf(t, c, a.Addr()); r != nil {
			t.Errorf("a ramps after the reload: %+v", r)
		}
	}
	return toB, all
}

// rampOf returns the slow-start ramp of backend addr of service ramp in
// /costlb/, nil if it is not ramping.
func rampOf(t *testing.T, c *harness.Caddy, addr string) *lbRamp {
	return rampIn(t, c, "ramp", addr)
}

// rampIn returns the slow-start ramp of backend addr of service svc in
// /costlb/, nil if it is not ramping.
func rampIn(t *testing.T, c *harness.Caddy, svc, addr string) *lbRamp {
	var v lbWeighted
	getJSON(t, c.AdminURL()+"/costlb/", &v)
	return v.slowStart(svc, addr)
}

// waitBackendState waits until the backend at addr of service svc is
// available (or not) in /costlb/ and returns when it saw it.
func waitBackendState(t *testing.T, c *harness.Caddy, svc, addr string, available bool) time.Time {
	t.Helper()
	harness.WaitFor(t, relTimeout, func() bool {
		b := mustView(t, c).service(svc).backend(addr)
		return b != nil && b.Available == available
	}, fmt.Sprintf("%s of %s available=%t", addr, svc, available))
	return time.Now()
}

// TestCapacitySlowStartRamp: a backend back from a failure takes every new
// connection until it is as busy as the other (Skupper's rule) without
// slow start, and a small share of them with slow_start 10s.
func TestCapacitySlowStartRamp(t *testing.T) {
	plainB, plainAll := rampShare(t, "")
	rampB, rampAll := rampShare(t, "10s")
	plain, ramp := float64(plainB)/float64(plainAll), float64(rampB)/float64(rampAll)
	t.Logf("FIGURES recovered backend's share of new connections in its first 2 s: without slow_start %d/%d = %.2f, with slow_start 10s %d/%d = %.2f",
		plainB, plainAll, plain, rampB, rampAll, ramp)
	if plain < 0.9 {
		t.Errorf("without slow_start the recovered backend took %.2f of new connections; want (nearly) all, as it holds 0 against 20", plain)
	}
	if ramp >= 0.5 || ramp >= plain/2 {
		t.Errorf("with slow_start 10s the recovered backend took %.2f of new connections; want well below its even share (0.5)", ramp)
	}
}

// TestCapacityHTTPWeights: two upstreams of weights 1 and 3 hold 1:3 of
// the requests in flight.
func TestCapacityHTTPWeights(t *testing.T) {
	one, three := harness.StartHTTPBackend(t, "one"), harness.StartHTTPBackend(t, "three")
	listen := harness.FreeAddr(t)
	c := harness.StartCaddy(t, httpCaddyfile("site east", "", httpSite{listen: listen, upstreams: []string{one.Addr(), three.Addr()},
		policy: fmt.Sprintf("name weighted-http\nweight %s 3", three.Addr())}), "caddyfile")
	const n = 40
	got := holdHTTPN(t, "http://"+listen+"/hold", n)
	want := expectWeighted([]weightedBackend{{"one", "east", 0, 1}, {"three", "east", 0, 3}}, n)
	if !sameCounts(got, want) || got["one"] != 10 {
		t.Fatalf("%d requests in flight landed %v, want %v (1:3)", n, got, want)
	}
	if one.InFlight() != 10 || three.InFlight() != 30 {
		t.Errorf("backends answer %d and %d requests, want 10 and 30", one.InFlight(), three.InFlight())
	}
	t.Logf("FIGURES HTTP weights 1 and 3, %d requests in flight: %v", n, got)
	one.Release()
	three.Release()
	waitIdle(t, c, "weighted-http")
}

// TestCapacityHTTPSlowStart: an upstream back from failing its active
// health check ramps up: holding 5 requests against the other's 15, it
// would take the next 10 without slow start (Skupper's rule); with
// slow_start 10s, at 10% of its weight, it counts 50 and takes none.
func TestCapacityHTTPSlowStart(t *testing.T) {
	one, two := harness.StartHTTPBackend(t, "one"), harness.StartHTTPBackend(t, "two")
	listen := harness.FreeAddr(t)
	c := harness.StartCaddy(t, httpCaddyfile("site east", "", httpSite{listen: listen, upstreams: []string{one.Addr(), two.Addr()},
		policy: "name ramp-http\nslow_start 10s", extra: "health_uri /healthz\nhealth_interval 50ms\nhealth_timeout 1s"}), "caddyfile")
	waitHealthy(t, c, "ramp-http")
	if got := holdHTTPN(t, "http://"+listen+"/hold", 10); got["one"] != 5 || got["two"] != 5 {
		t.Fatalf("10 requests in flight went %v, want 5 and 5", got)
	}
	if r := rampIn(t, c, "ramp-http", two.Addr()); r != nil {
		t.Fatalf("a ramp at start: %+v", r)
	}
	two.SetHealthy(false)
	waitBackendState(t, c, "ramp-http", two.Addr(), false)
	if got := holdHTTPN(t, "http://"+listen+"/hold", 10); got["one"] != 10 {
		t.Fatalf("with two unhealthy, 10 requests went %v, want all on one", got)
	}
	two.SetHealthy(true)
	var r *lbRamp
	harness.WaitFor(t, relTimeout, func() bool { r = rampIn(t, c, "ramp-http", two.Addr()); return r != nil }, "two's ramp in /costlb/")
	got := holdHTTPN(t, "http://"+listen+"/hold", 10)
	t.Logf("FIGURES HTTP slow_start 10s: the upstream back (5 in flight against 15, share %v, %s left) took %d of the next 10 requests (without slow start it takes all 10)",
		r.Share, r.Remaining, got["two"])
	if r.Share >= 0.5 || got["two"] > 2 {
		t.Errorf("two just back: share %v, took %d of 10 requests; want a ramp well under its weight, taking at most 2", r.Share, got["two"])
	}
	one.Release()
	two.Release()
	waitIdle(t, c, "ramp-http")
}
