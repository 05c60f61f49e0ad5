package integration

// Reloads under load: held connections survive good reloads with their live
// counts, and bad reloads leave the running config serving.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/costlb/costlb/costlb/costlbtest"
	"github.com/costlb/costlb/integration/harness"
)

// TestReliabilityReloadUnderLoad holds 500 connections echoing data and
// reloads the config five times (link cost changed, a backend added, one
// removed, a service cost override and max_connections, failover-only cost):
// no held connection breaks or loses a byte, live counts carry over (new
// connections are placed using the held ones), and a removed backend keeps
// its live count until its connections close.
func TestReliabilityReloadUnderLoad(t *testing.T) {
	e1 := harness.StartBackend(t, "e1")
	e2 := harness.StartBackend(t, "e2")
	e3 := harness.StartBackend(t, "e3")
	w1 := harness.StartBackend(t, "w1")
	nameOf := map[string]string{e1.Addr(): "e1", e2.Addr(): "e2", e3.Addr(): "e3", w1.Addr(): "w1"}
	addrOf := map[string]string{"e1": e1.Addr(), "e2": e2.Addr(), "e3": e3.Addr(), "w1": w1.Addr()}
	listen := harness.FreeAddr(t)

	nHeld := 500
	if *reliabilityLong {
		nHeld = 1500
	}
	const probes = 10

	type step struct {
		what     string
		cost     int    // of the link east west
		backends string // backend and link_cost lines
		sim      []simBackend
	}
	steps := []step{
		{"initial: e1 e2 in east, w1 in west, link 100", 100, fmt.Sprintf(`
			backend east %s %s
			backend west %s`, e1.Addr(), e2.Addr(), w1.Addr()),
			[]simBackend{{e1.Addr(), 0, 0}, {e2.Addr(), 0, 0}, {w1.Addr(), 100, 0}}},
		{"reload 1: link cost 100 -> 20", 20, fmt.Sprintf(`
			backend east %s %s
			backend west %s`, e1.Addr(), e2.Addr(), w1.Addr()),
			[]simBackend{{e1.Addr(), 0, 0}, {e2.Addr(), 0, 0}, {w1.Addr(), 20, 0}}},
		{"reload 2: backend e3 added", 20, fmt.Sprintf(`
			backend east %s %s %s
			backend west %s`, e1.Addr(), e2.Addr(), e3.Addr(), w1.Addr()),
			[]simBackend{{e1.Addr(), 0, 0}, {e2.Addr(), 0, 0}, {e3.Addr(), 0, 0}, {w1.Addr(), 20, 0}}},
		{"reload 3: backend e1 removed", 20, fmt.Sprintf(`
			backend east %s %s
			backend west %s`, e2.Addr(), e3.Addr(), w1.Addr()),
			[]simBackend{{e2.Addr(), 0, 0}, {e3.Addr(), 0, 0}, {w1.Addr(), 20, 0}}},
		{"reload 4: e3 max_connections 25, link_cost east west 1 for this service", 20, fmt.Sprintf(`
			backend east %s
			backend east %s {
				max_connections 25
			}
			backend west %s
			link_cost east west 1`, e2.Addr(), e3.Addr(), w1.Addr()),
			[]simBackend{{e2.Addr(), 0, 0}, {e3.Addr(), 0, 25}, {w1.Addr(), 1, 0}}},
		{"reload 5: link cost 9999 (failover only), no override", 9999, fmt.Sprintf(`
			backend east %s
			backend east %s {
				max_connections 25
			}
			backend west %s`, e2.Addr(), e3.Addr(), w1.Addr()),
			[]simBackend{{e2.Addr(), 0, 0}, {e3.Addr(), 0, 25}, {w1.Addr(), 9999, 0}}},
	}
	config := func(s step) string {
		return costlbCaddyfile(fmt.Sprintf(`
			site east
			link east west %d`, s.cost), l4Route{listen, fmt.Sprintf(`costlb {
			name svc
			%s
		}`, strings.TrimSpace(s.backends))})
	}

	c := harness.StartCaddy(t, config(steps[0]), "caddyfile")
	live := make(map[string]int64) // the model: live connections per address
	everyAddr := []string{e1.Addr(), e2.Addr(), e3.Addr(), w1.Addr()}

	// checkView compares GET /costlb/ with the model and the step's backends
	checkView := func(where string, s step) {
		t.Helper()
		v := mustView(t, c)
		for _, a := range everyAddr {
			got, listed := v.counter(a)
			if want := live[a]; got != want || (want != 0 && !listed) {
				t.Errorf("%s: counters[] %s (%s) = %d (listed %t), want %d", where, nameOf[a], a, got, listed, want)
			}
		}
		svc := mustService(t, v, "svc")
		if len(svc.Backends) != len(s.sim) {
			t.Errorf("%s: service has %d backends, want %d: %+v", where, len(svc.Backends), len(s.sim), svc.Backends)
		}
		for _, sb := range s.sim {
			b := mustBackend(t, svc, sb.addr)
			if b.Live != live[sb.addr] || b.PathCost != sb.path || b.Perceived != sb.path+live[sb.addr] || b.MaxConnections != sb.max {
				t.Errorf("%s: backend %s: live %d path %d perceived %d max %d; want %d, %d, %d, %d",
					where, nameOf[sb.addr], b.Live, b.PathCost, b.Perceived, b.MaxConnections, live[sb.addr], sb.path, sb.path+live[sb.addr], sb.max)
			}
		}
	}
	// place opens n held connections one after the other and checks each
	// backend got what the model predicts from the live counts
	var all []*heldConn
	place := func(where string, sim *costlbtest.Model, n int) []*heldConn {
		t.Helper()
		want, got := make(map[string]int), make(map[string]int)
		var out []*heldConn
		for range n {
			a := sim.Pick(live)
			want[nameOf[a]]++
			name, conn, err := harness.Hold(listen, relTimeout)
			if err != nil {
				t.Fatalf("%s: held connection %d: %v", where, len(all)+1, err)
			}
			got[name]++
			hc := &heldConn{id: len(all), name: name, addr: addrOf[name], conn: conn}
			all = append(all, hc)
			out = append(out, hc)
			t.Cleanup(func() { _ = conn.Close() })
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: %d new connections went to %v; placement from the live counts predicts %v", where, n, got, want)
		} else {
			t.Logf("%s: %d new connections went to %v, as predicted from the live counts", where, n, got)
		}
		return out
	}

	initial := place(steps[0].what, newSim(steps[0].sim...), nHeld)
	checkView(steps[0].what, steps[0])
	pool := startEchoPool(initial, 10, 20*time.Millisecond)
	t.Cleanup(pool.Stop)
	pool.fullPass(t)

	var probeConns []*heldConn
	var reloadTimes []time.Duration
	for _, s := range steps[1:] {
		t0 := time.Now()
		status, body, err := c.Load([]byte(config(s)), "text/caddyfile")
		if err != nil || status != http.StatusOK {
			t.Fatalf("%s: POST /load: status %d, err %v, body %s", s.what, status, err, body)
		}
		reloadTimes = append(reloadTimes, time.Since(t0).Round(time.Millisecond))
		pool.fullPass(t) // every held connection echoed since the reload
		if errs := pool.errors(); len(errs) > 0 {
			t.Fatalf("%s: %d held connections broke: %v", s.what, len(errs), errs)
		}
		for _, hc := range probeConns {
			p := make([]byte, 64)
			fillPayload(p, uint64(hc.id), 7)
			if err := harness.EchoCheck(hc.conn, p); err != nil {
				t.Fatalf("%s: held connection %d to %s: %v", s.what, hc.id, hc.name, err)
			}
		}
		checkView(s.what+" (before new connections)", s)
		probeConns = append(probeConns, place(s.what, newSim(s.sim...), probes)...)
		checkView(s.what, s)
	}
	pool.Stop()
	if errs := pool.errors(); len(errs) > 0 {
		t.Fatalf("%d held connections broke: %v", len(errs), errs)
	}

	// e1 was removed by reload 3: its connections still count until they close
	var e1Conns, rest []*heldConn
	for _, hc := range all {
		if hc.name == "e1" {
			e1Conns = append(e1Conns, hc)
		} else {
			rest = append(rest, hc)
		}
	}
	if live[e1.Addr()] == 0 || int64(len(e1Conns)) != live[e1.Addr()] {
		t.Fatalf("model: %d held connections to e1, live %d", len(e1Conns), live[e1.Addr()])
	}
	e1Live := live[e1.Addr()]
	for _, hc := range e1Conns {
		if err := closeAndDrain(hc.conn); err != nil {
			t.Errorf("closing held connection %d to e1: %v", hc.id, err)
		}
	}
	live[e1.Addr()] = 0
	// then 0: listed with 0, or dropped from counters[] (no running
	// service uses the address and no connection to it is open)
	var e1Left int64
	var e1Listed bool
	harness.WaitFor(t, relTimeout, func() bool {
		v, _, err := fetchView(c)
		e1Left, e1Listed = v.counter(e1.Addr())
		return err == nil && e1Left == 0
	}, fmt.Sprintf("the removed backend e1's live count did not reach 0 after its %d connections closed", len(e1Conns)))
	t.Logf("removed backend e1: live %d with its connections open, 0 after they closed (counters[] entry kept: %t)", e1Live, e1Listed)
	checkView("after closing e1's connections", steps[len(steps)-1])
	for _, hc := range rest {
		_ = closeAndDrain(hc.conn)
	}
	waitAllLiveZero(t, c, relTimeout)
	t.Logf("FIGURES reload under load: %d held connections + %d placed after reloads, 5 reloads (POST /load took %v), %d echo checks (%d bytes) with 0 broken; removed backend e1 kept live %d until its connections closed, then 0 (entry kept: %t)",
		nHeld, len(probeConns), reloadTimes, pool.checks.Load(), pool.bytes.Load(), e1Live, e1Listed)
}

// TestReliabilityRejectedReload posts bad configs to a running Caddy: each is
// refused with an error naming the problem, and the running config keeps
// serving: held connections echo, new connections are placed as before, and
// GET /costlb/ and GET /config/ do not change.
func TestReliabilityRejectedReload(t *testing.T) {
	e1 := harness.StartBackend(t, "e1")
	w1 := harness.StartBackend(t, "w1")
	nameOf := map[string]string{e1.Addr(): "e1", w1.Addr(): "w1"}
	listen := harness.FreeAddr(t)
	handler := func(extra string) string {
		return fmt.Sprintf(`costlb {
			name svc
			backend east %s
			backend west %s
			%s
		}`, e1.Addr(), w1.Addr(), extra)
	}
	network := func(cost int) string {
		return fmt.Sprintf(`
			site east
			link east west %d`, cost)
	}
	good := costlbCaddyfile(network(5), l4Route{listen, handler("")})
	c := harness.StartCaddy(t, good, "caddyfile")

	live := make(map[string]int64)
	sim := newSim(simBackend{e1.Addr(), 0, 0}, simBackend{w1.Addr(), 5, 0})
	var held []net.Conn
	for i := range 10 {
		want := nameOf[sim.Pick(live)]
		name, conn, err := harness.Hold(listen, relTimeout)
		if err != nil || name != want {
			t.Fatalf("held connection %d: %q, %v; want %s", i+1, name, err, want)
		}
		held = append(held, conn)
		t.Cleanup(func() { _ = conn.Close() })
	}

	jsonConfig := func(cost, extra string) string {
		return fmt.Sprintf(`{"admin": {"listen": "{ADMIN}"}, "apps": {
			"costlb": {"site": "east", "links": [{"between": ["east", "west"], "cost": %s}]},
			"layer4": {"servers": {"s": {"listen": [%q], "routes": [{"handle": [{
				"handler": "costlb", "name": "svc",
				"backends": [{"site": "east", "dial": [%q]}, {"site": "west", "dial": [%q]}]%s
			}]}]}}}}}`, cost, listen, e1.Addr(), w1.Addr(), extra)
	}
	bads := []struct {
		what, contentType, config string
		want                      []string // the error body names the problem
	}{
		{"unknown site in a backend", "text/caddyfile",
			costlbCaddyfile(network(5), l4Route{listen, handler("backend mars 127.0.0.1:1")}),
			[]string{`unknown site "mars"`}},
		{"link cost 0", "text/caddyfile",
			costlbCaddyfile(network(0), l4Route{listen, handler("")}),
			[]string{`"0"`, "must be an integer from 1 to 2147483647"}},
		{"lb_policy inside costlb", "text/caddyfile",
			costlbCaddyfile(network(5), l4Route{listen, handler("lb_policy round_robin")}),
			[]string{"lb_policy is not allowed"}},
		{"malformed JSON", "application/json",
			jsonConfig("5", "")[:120],
			[]string{"unexpected end of JSON input"}},
		{"JSON link cost 0", "application/json", jsonConfig("0", ""),
			[]string{"cost 0", "must be an integer from 1 to 2147483647"}},
		{"JSON selection policy inside costlb", "application/json",
			jsonConfig("5", `, "load_balancing": {"selection": {"policy": "round_robin"}}`),
			[]string{"selection", "not allowed"}},
	}

	payload := make([]byte, 512)
	for i, bad := range bads {
		_, viewBefore, err := fetchView(c)
		if err != nil {
			t.Fatal(err)
		}
		_, cfgBefore, err := c.Get("/config/")
		if err != nil {
			t.Fatal(err)
		}
		status, body, err := c.Load([]byte(bad.config), bad.contentType)
		if err != nil {
			t.Fatalf("%s: POST /load: %v", bad.what, err)
		}
		if status < 400 || status >= 500 {
			t.Errorf("%s: POST /load status %d; want a 4xx client error", bad.what, status)
		}
		var apiErr struct {
			Error string `json:"error"`
		}
		if err := json.Unmarshal(body, &apiErr); err != nil || apiErr.Error == "" {
			t.Errorf("%s: POST /load body is not Caddy's JSON error (%v): %s", bad.what, err, body)
		}
		for _, w := range bad.want {
			if !strings.Contains(apiErr.Error, w) {
				t.Errorf("%s: POST /load body does not name the problem (%q): %s", bad.what, w, body)
			}
		}
		t.Logf("%s: POST /load -> %d: %s", bad.what, status, apiErr.Error)

		_, viewAfter, err := fetchView(c)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(viewBefore, viewAfter) {
			t.Errorf("%s: GET /costlb/ changed after the rejected reload:\nbefore %s\nafter %s", bad.what, viewBefore, viewAfter)
		}
		if _, cfgAfter, _ := c.Get("/config/"); !bytes.Equal(cfgBefore, cfgAfter) {
			t.Errorf("%s: GET /config/ changed after the rejected reload", bad.what)
		}
		for j, conn := range held {
			fillPayload(payload, uint64(j), uint64(i))
			if err := harness.EchoCheck(conn, payload); err != nil {
				t.Fatalf("%s: held connection %d broke: %v", bad.what, j+1, err)
			}
		}
		// new connections are still served and placed by the running config
		want := sim.Pick(live)
		name, conn, err := harness.Hold(listen, relTimeout)
		if err != nil || name != nameOf[want] {
			t.Fatalf("%s: new connection: %q, %v; want %s", bad.what, name, err, nameOf[want])
		}
		_ = closeAndDrain(conn)
		live[want]--
		waitCounterEquals(t, c, want, live[want])
	}
	for _, conn := range held {
		_ = closeAndDrain(conn)
	}
	waitAllLiveZero(t, c, relTimeout)
	t.Logf("FIGURES rejected reload: %d bad configs refused, running config unchanged, %d held connections unaffected", len(bads), len(held))
}
