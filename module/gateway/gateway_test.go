package gateway

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/costlb/costlb/costlb"
)

func TestParseReadiness(t *testing.T) {
	rt := func(cost int64, sites ...string) costlb.Route { return costlb.Route{Sites: sites, Cost: cost} }
	tests := []struct {
		name, body string
		routes     []costlb.Route // nil: not ready
		reason     string
		dropped    string // what Dropped must mention, if anything
	}{
		{"ready", `{"service": "s", "site": "B", "ready": true, "routes": [{"sites": ["B"], "cost": 0}, {"sites": ["B", "C"], "cost": 20}]}`, []costlb.Route{rt(0, "B"), rt(20, "B", "C")}, "", ""},
		{"cheapest first", `{"ready": true, "routes": [{"sites": ["B", "C"], "cost": 3}, {"sites": ["B", "D", "E"], "cost": 1}]}`, []costlb.Route{rt(1, "B", "D", "E"), rt(3, "B", "C")}, "", ""},
		{"whole number in exponent form", `{"ready": true, "routes": [{"sites": ["B"], "cost": 1e3}]}`, []costlb.Route{rt(1000, "B")}, "", ""},
		{"through the asker only", `{"ready": true, "routes": [{"sites": ["B", "A"], "cost": 1}]}`, nil, `no route that avoids the local site "A"`, ""},
		{"some through the asker", `{"ready": true, "routes": [{"sites": ["B", "A"], "cost": 1}, {"sites": ["B", "C"], "cost": 2}]}`, []costlb.Route{rt(2, "B", "C")}, "", ""},
		{"not ready", `{"ready": false, "routes": []}`, nil, `answered "ready": false`, ""},
		{"ready without routes", `{"ready": true}`, nil, "no route", ""},
		{"garbage", `<html>hello</html>`, nil, "not costlb readiness JSON", ""},
		{"wrong shape", `{"ready": true, "routes": "B"}`, nil, "not costlb readiness JSON", ""},
		{"routes of the old format", `{"ready": true, "routes": [["B"]]}`, nil, "not costlb readiness JSON", ""},
		{"negative cost", `{"ready": true, "routes": [{"sites": ["B"], "cost": -1}]}`, nil, `cost -1 is negative`, `cost -1 is negative`},
		{"fractional cost", `{"ready": true, "routes": [{"sites": ["B"], "cost": 1.5}]}`, nil, `cost 1.5 is not a whole number`, `1.5`},
		{"cost not a number", `{"ready": true, "routes": [{"sites": ["B"], "cost": "x"}]}`, nil, `cost "x" is not a number`, `x`},
		{"cost too large", `{"ready": true, "routes": [{"sites": ["B"], "cost": 4611686018427387904}]}`, nil, `cost 4611686018427387904 is too large`, `4611686018427387904`},
		{"cost beyond int64", `{"ready": true, "routes": [{"sites": ["B"], "cost": 1e300}]}`, nil, `cost 1e300 is too large`, `1e300`},
		{"cost missing", `{"ready": true, "routes": [{"sites": ["B"]}]}`, nil, "no cost", "no cost"},
		{"cost null", `{"ready": true, "routes": [{"sites": ["B"], "cost": null}]}`, nil, "no cost", "no cost"},
		{"bad route dropped, good kept", `{"ready": true, "routes": [{"sites": ["B"], "cost": -5}, {"sites": ["B", "C"], "cost": 4}]}`, []costlb.Route{rt(4, "B", "C")}, "", `cost -5 is negative`},
		{"site with whitespace", `{"ready": true, "routes": [{"sites": ["B", "C D"], "cost": 1}]}`, nil, "whitespace", "whitespace"},
		{"site with NUL", `{"ready": true, "routes": [{"sites": ["B", "C\u0000"], "cost": 1}]}`, nil, "control character", "control character"},
		{"empty site", `{"ready": true, "routes": [{"sites": ["B", ""], "cost": 1}]}`, nil, "site name is empty", "empty"},
		{"site name too long", `{"ready": true, "routes": [{"sites": ["B", "` + strings.Repeat("c", 30000) + `"], "cost": 1}]}`, nil, "too long (30000 bytes)", "too long"},
		{"no sites", `{"ready": true, "routes": [{"sites": [], "cost": 1}]}`, nil, "names no site", "names no site"},
		{"too many hops", `{"ready": true, "routes": [{"sites": ["B"` + strings.Repeat(`, "x"`, costlb.MaxRouteHops) + `], "cost": 1}]}`, nil, "names 17 sites", "names 17 sites"},
		{"huge", `{"ready": true, "routes": [{"sites": ["B"], "cost": 0}], "pad": "` + strings.Repeat("x", maxAnswer) + `"}`, nil, "larger than 65536 bytes", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := parseReadiness([]byte(tt.body), "A")
			if !reflect.DeepEqual(r.Routes, tt.routes) {
				t.Errorf("routes %v, want %v", r.Routes, tt.routes)
			}
			if !strings.Contains(r.Reason, tt.reason) || (tt.reason == "") != (r.Reason == "") {
				t.Errorf("reason %q, want one containing %q", r.Reason, tt.reason)
			}
			if got := strings.Join(r.Dropped, "; "); !strings.Contains(got, tt.dropped) || (tt.dropped == "") != (got == "") {
				t.Errorf("dropped %q, want a reason containing %q", got, tt.dropped)
			}
		})
	}
}

// the state changes only after fall (here 3) not-ready answers in a row,
// or rise (here 2) ready ones; answers that agree with the state update it
// at once, and only state changes are logged.
func TestGatewayDampsChanges(t *testing.T) {
	core, logs := observer.New(zap.InfoLevel)
	g := &Poller{spec: Spec{Service: "web", Upstream: "b:1", Fall: 3, Rise: 2}, logger: zap.New(core)}
	up := func(site string) *Readiness { return &Readiness{Routes: []costlb.Route{{Sites: []string{site}}}} }
	down := func(why string) *Readiness { return &Readiness{Reason: why} }
	steps := []struct {
		answer *Readiness
		ready  bool   // the state after it
		shows  string // the route or reason the state shows
	}{
		{up("B"), true, "B"},                         // the first answer decides
		{down("x"), true, "B"}, {up("C"), true, "C"}, // a ready answer resets the count, new routes at once
		{down("x"), true, "C"}, {down("y"), true, "C"}, {up("C"), true, "C"}, // two in a row are not three
		{down("x"), true, "C"}, {down("y"), true, "C"}, {down("z"), false, "z"}, // three are
		{up("B"), false, "z"}, {down("w"), false, "w"}, // one ready answer is not two; a new reason at once
		{up("B"), false, "w"}, {up("C"), true, "C"}, // two are
	}
	for i, st := range steps {
		g.record(st.answer)
		r := g.State()
		shows := r.Reason
		if len(r.Routes) > 0 {
			shows = r.Routes[0].Sites[0]
		}
		if g.Ready() != st.ready || shows != st.shows {
			t.Fatalf("after answer %d: ready %v showing %q; want ready %v showing %q", i+1, g.Ready(), shows, st.ready, st.shows)
		}
	}
	var msgs []string
	for _, e := range logs.All() {
		msgs = append(msgs, e.Message)
	}
	want := []string{"costlb gateway ready", "costlb gateway not ready", "costlb gateway ready"}
	if !reflect.DeepEqual(msgs, want) {
		t.Errorf("log lines %q, want exactly %q", msgs, want)
	}
}

// startTestGateway polls url every 20 ms with the given timeout and stops
// when the test ends. Its logs go to the returned observer.
func startTestGateway(t *testing.T, url string, timeout time.Duration) (*Poller, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	g := start(Spec{Service: "web", Upstream: "10.1.0.1:80", Local: "A", URL: url,
		Interval: 20 * time.Millisecond, Timeout: timeout}, zap.New(core))
	t.Cleanup(func() { g.stop() })
	return g, logs
}

// waitFor calls cond every 5 ms until it returns true, and fails the test
// with what (and the state it describes) if it has not within 5 s.
func waitFor(t *testing.T, cond func() bool, what func() string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal(what())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitAnswer waits until the gateway has an answer satisfying cond.
func waitAnswer(t *testing.T, g *Poller, what string, cond func(Readiness) bool) Readiness {
	t.Helper()
	var r *Readiness
	waitFor(t, func() bool { r = g.last.Load(); return r != nil && cond(*r) },
		func() string { return fmt.Sprintf("gateway never %s; last state %+v", what, g.State()) })
	return *r
}

// waitPolls waits until a readiness server has had n more requests than
// from: the poller, which asks once at a time and records each answer
// before it asks again, has then recorded at least n-1 more answers.
func waitPolls(t *testing.T, polls *atomic.Int64, from, n int64) {
	t.Helper()
	waitFor(t, func() bool { return polls.Load() >= from+n },
		func() string { return fmt.Sprintf("%d polls, want %d more than %d", polls.Load(), n, from) })
}

// TestGatewayFollowsAnswers: not ready until the first answer, then ready,
// not ready, and ready again, with one log line per change and none for
// the unchanged answers polled in between.
func TestGatewayFollowsAnswers(t *testing.T) {
	var up atomic.Bool
	up.Store(true)
	var polls atomic.Int64
	first := make(chan struct{}) // the first answer waits for it
	answerFirst := sync.OnceFunc(func() { close(first) })
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/ready/web" {
			http.NotFound(w, r)
			return
		}
		if polls.Add(1) == 1 {
			<-first
		}
		if !up.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprint(w, `{"service": "web", "site": "B", "ready": false, "routes": []}`)
			return
		}
		fmt.Fprint(w, `{"service": "web", "site": "B", "ready": true, "routes": [{"sites": ["B"], "cost": 0}, {"sites": ["B", "A"], "cost": 1}]}`)
	}))
	defer srv.Close()
	defer answerFirst() // before the server closes, which waits for it
	g, logs := startTestGateway(t, srv.URL+"/ready/web", time.Second)
	waitPolls(t, &polls, 0, 1) // the first poll is asking, its answer held back
	if st := g.State(); g.Ready() || st.Reason != "no answer yet" {
		t.Fatalf("before the first answer: ready %t, state %+v; want not ready, no answer yet", g.Ready(), st)
	}
	answerFirst()
	r := waitAnswer(t, g, "ready", func(r Readiness) bool { return len(r.Routes) > 0 })
	if !reflect.DeepEqual(r.Routes, []costlb.Route{{Sites: []string{"B"}, Cost: 0}}) {
		t.Errorf("routes %q, want [[B]] (the route through A dropped)", r.Routes)
	}
	waitPolls(t, &polls, polls.Load(), 3) // several polls, same answer
	up.Store(false)
	r = waitAnswer(t, g, "not ready", func(r Readiness) bool { return len(r.Routes) == 0 })
	if !strings.Contains(r.Reason, "503") {
		t.Errorf("reason %q, want the 503 named", r.Reason)
	}
	waitPolls(t, &polls, polls.Load(), 3)
	up.Store(true)
	waitAnswer(t, g, "ready again", func(r Readiness) bool { return len(r.Routes) > 0 })
	// the next polls begin after the change's log line was written
	waitPolls(t, &polls, polls.Load(), 3)
	var msgs []string
	for _, e := range logs.All() {
		msgs = append(msgs, e.Message)
		if e.ContextMap()["service"] != "web" || e.ContextMap()["upstream"] != "10.1.0.1:80" {
			t.Errorf("log line %q lacks the service and Upstream: %v", e.Message, e.ContextMap())
		}
	}
	want := []string{"costlb gateway ready", "costlb gateway not ready", "costlb gateway ready"}
	if !reflect.DeepEqual(msgs, want) {
		t.Errorf("log lines %q, want exactly %q", msgs, want)
	}
}

// TestGatewayBadAnswers: every kind of bad answer is "not ready", with a
// reason, within the timeout, and the poller stops cleanly.
func TestGatewayBadAnswers(t *testing.T) {
	const timeout = 150 * time.Millisecond
	closed := func() string { // an address where nothing listens
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		return "http://" + addr + "/ready/web"
	}()
	tests := []struct {
		name    string
		handler http.HandlerFunc
		url     string
		reason  string
	}{
		{"slow", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		}, "", "no answer within the timeout 150ms"},
		{"slow body", func(w http.ResponseWriter, r *http.Request) {
			w.(http.Flusher).Flush()
			fmt.Fprint(w, `{"ready": true,`)
			w.(http.Flusher).Flush()
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		}, "", "timeout"},
		{"garbage", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "\x00\x01garbage") }, "", "not costlb readiness JSON"},
		{"500", func(w http.ResponseWriter, r *http.Request) { http.Error(w, "boom", 500) }, "", "answered 500 Internal Server Error"},
		{"redirect", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/elsewhere", http.StatusFound) }, "", "answered 302"},
		{"huge", func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"ready": true, "routes": [{"sites": ["B"], "cost": 0}], "pad": "`)
			chunk := strings.Repeat("x", 32<<10)
			for i := 0; i < 1024; i++ { // 32 MiB unless the poller stops reading
				if _, err := fmt.Fprint(w, chunk); err != nil {
					return
				}
			}
		}, "", "larger than 65536 bytes"},
		{"reset", func(w http.ResponseWriter, r *http.Request) {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err != nil {
				return
			}
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		}, "", "reset"},
		{"nothing listens", nil, closed, "refused"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			url := tt.url
			if tt.handler != nil {
				srv := httptest.NewServer(tt.handler)
				defer srv.Close()
				url = srv.URL + "/ready/web"
			}
			g, _ := startTestGateway(t, url, timeout)
			start := time.Now()
			r := waitAnswer(t, g, "answered", func(Readiness) bool { return true })
			if took := time.Since(start); took > timeout+time.Second {
				t.Errorf("the first answer took %v, past the timeout %v", took, timeout)
			}
			if len(r.Routes) != 0 || g.Ready() {
				t.Fatalf("ready with routes %q, want not ready", r.Routes)
			}
			if !strings.Contains(r.Reason, tt.reason) {
				t.Errorf("reason %q, want one containing %q", r.Reason, tt.reason)
			}
			stopped := make(chan struct{})
			go func() { g.stop(); close(stopped) }()
			select {
			case <-stopped:
			case <-time.After(timeout + time.Second):
				t.Fatal("Destruct did not return: the poller is stuck")
			}
		})
	}
}

// TestGatewayPoolSharesAndStops: a second config polling the same way
// shares the running poller (and its last answer); the poller stops when
// the last user lets go.
func TestGatewayPoolSharesAndStops(t *testing.T) {
	var polls, witnessPolls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ready/witness" {
			witnessPolls.Add(1)
		} else {
			polls.Add(1)
		}
		fmt.Fprint(w, `{"ready": true, "routes": [{"sites": ["B"], "cost": 0}]}`)
	}))
	defer srv.Close()
	spec := Spec{Service: "pool", Upstream: "b:1", Local: "A", URL: srv.URL + "/ready/pool", Interval: 10 * time.Millisecond, Timeout: time.Second}
	g1 := Load(spec, zap.NewNop())
	waitAnswer(t, g1, "ready", func(r Readiness) bool { return len(r.Routes) > 0 })
	g2 := Load(spec, zap.NewNop())
	if g1 != g2 || !g2.Ready() {
		t.Fatalf("the second load got a new poller (%p, %p) or one not ready", g1, g2)
	}
	if g2.Release() {
		t.Fatal("the poller stopped while a config still uses it")
	}
	if !g1.Release() {
		t.Fatal("the poller did not stop when the last config let go")
	}
	select {
	case <-g1.done:
	default:
		t.Fatal("Release returned before the poller ended")
	}
	// a witness poller, every 20 ms: while it polls 5 times, a poller
	// still running (every 10 ms) would have polled too
	n := polls.Load()
	startTestGateway(t, srv.URL+"/ready/witness", time.Second)
	waitPolls(t, &witnessPolls, 0, 5)
	if polls.Load() != n {
		t.Errorf("polls went on after the poller stopped: %d then %d", n, polls.Load())
	}
}

// resettingListener resets, after reading the request, each accepted
// connection for which reset (called with the connection's number, from
// 1) says so, as a reloading peer resets the connections queued on its
// old listener; it hands the others on.
type resettingListener struct {
	net.Listener
	n     atomic.Int64
	reset func(n int64) bool
}

func (l *resettingListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if !l.reset(l.n.Add(1)) {
			return c, nil
		}
		_, _ = c.Read(make([]byte, 4096))
		_ = c.(*net.TCPConn).SetLinger(0)
		_ = c.Close()
	}
}

// TestGatewayPollRetriesReset: a poll whose connection the peer resets
// (its reload closing the listener it was queued on) asks once more at
// once, so the gateway stays ready and logs no change; a peer that resets
// every connection is not ready, and the reason says so.
func TestGatewayPollRetriesReset(t *testing.T) {
	serve := func(t *testing.T, reset func(int64) bool) (*resettingListener, string) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		rl := &resettingListener{Listener: ln, reset: reset}
		srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprint(w, `{"ready": true, "routes": [{"sites": ["B"], "cost": 0}]}`)
		}))
		srv.Listener = rl
		srv.Start()
		t.Cleanup(srv.Close)
		return rl, srv.URL + "/ready/web"
	}
	t.Run("every first try reset", func(t *testing.T) {
		rl, url := serve(t, func(n int64) bool { return n%2 == 1 })
		g, logs := startTestGateway(t, url, time.Second)
		waitPolls(t, &rl.n, 0, 20) // 10 polls, each reset once
		if r := g.State(); len(r.Routes) == 0 || !g.Ready() {
			t.Errorf("gateway not ready after polls whose first try was reset: %+v", r)
		}
		if n := logs.FilterMessage("costlb gateway not ready").Len(); n != 0 {
			t.Errorf("logged %d 'not ready' lines for polls answered on their second try; want 0", n)
		}
	})
	t.Run("every try reset", func(t *testing.T) {
		rl, url := serve(t, func(int64) bool { return true })
		g, _ := startTestGateway(t, url, time.Second)
		waitPolls(t, &rl.n, 0, 6)
		r := waitAnswer(t, g, "answered", func(Readiness) bool { return true })
		if g.Ready() || !strings.Contains(r.Reason, "connection reset by peer") {
			t.Errorf("a peer that resets every poll: ready %t, reason %q; want not ready, reason naming the reset", g.Ready(), r.Reason)
		}
	})
}
