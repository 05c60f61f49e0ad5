package integration

import (
	"encoding/json"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// httpLoad sends GET requests from a few workers, one after another, and
// records every answer.
type httpLoad struct {
	stop     chan struct{}
	stopOnce sync.Once
	wg       sync.WaitGroup
	mu       sync.Mutex
	recs     []httpRec
}

type httpRec struct {
	at   time.Time
	name string // the backend that answered; "" on failure
	err  string
}

func startHTTPLoad(url string, workers int) *httpLoad {
	l := &httpLoad{stop: make(chan struct{})}
	for w := 0; w < workers; w++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				status, name, err := harness.GetHTTP(url, relTimeout)
				rec := httpRec{at: time.Now(), name: name}
				if err != nil || status != http.StatusOK {
					rec.name, rec.err = "", fmt.Sprintf("status %d, %v", status, err)
				}
				l.mu.Lock()
				l.recs = append(l.recs, rec)
				l.mu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	return l
}

// since returns the answers that came at or after t.
func (l *httpLoad) since(t time.Time) []httpRec {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []httpRec
	for _, r := range l.recs {
		if !r.at.Before(t) {
			out = append(out, r)
		}
	}
	return out
}

// Stop ends the load and returns every answer.
func (l *httpLoad) Stop() []httpRec {
	l.stopOnce.Do(func() { close(l.stop) })
	l.wg.Wait()
	return l.since(time.Time{})
}

// waitAnswers waits until n answers that came at or after since are from
// backend name ("" for any backend or failure).
func (l *httpLoad) waitAnswers(t *testing.T, since time.Time, name string, n int) {
	t.Helper()
	harness.WaitFor(t, relTimeout, func() bool {
		got := 0
		for _, r := range l.since(since) {
			if name == "" || r.name == name {
				got++
			}
		}
		return got >= n
	}, fmt.Sprintf("%d answers from %q since %s", n, name, since.Format(time.StampMilli)))
}

// failures returns the failed answers of recs.
func failures(recs []httpRec) []httpRec {
	var out []httpRec
	for _, r := range recs {
		if r.err != "" {
			out = append(out, r)
		}
	}
	return out
}

// TestHTTPFailover: the primary site goes down and requests fail over to
// the cost-9999 site with no failed request once the failure is detected,
// then come back when it returns; once detected by active health checks
// (health_uri), once by passive ones with retries (lb_try_duration), which
// hide the failure from every client.
func TestHTTPFailover(t *testing.T) {
	t.Run("active", func(t *testing.T) {
		runHTTPFailover(t, true, `
			health_uri /healthz
			health_interval 100ms
			health_timeout 200ms`)
	})
	t.Run("passive", func(t *testing.T) {
		runHTTPFailover(t, false, `
			fail_duration 1s
			max_fails 1
			lb_try_duration 3s
			lb_try_interval 50ms`)
	})
}

// failoverRig is a service svc with a primary in the local site east and
// a backup in dr, behind a link of cost 9999, and costlb_status.
type failoverRig struct {
	c               *harness.Caddy
	primary, backup *harness.HTTPBackend
	url, status     string
}

func startFailoverRig(t *testing.T, checks string) *failoverRig {
	r := &failoverRig{primary: harness.StartHTTPBackend(t, "primary"), backup: harness.StartHTTPBackend(t, "backup")}
	listen, status := harness.FreeAddr(t), harness.FreeAddr(t)
	cfg := httpCaddyfile(`
		site east
		link east dr 9999`, "", httpSite{
		listen: listen, upstreams: []string{r.primary.Addr(), r.backup.Addr()},
		policy: fmt.Sprintf(`
			name svc
			site dr %s`, r.backup.Addr()),
		extra: checks,
	}) + statusSite(status)
	r.c = harness.StartCaddy(t, cfg, "caddyfile")
	r.url, r.status = "http://"+listen+"/", "http://"+status
	return r
}

// getJSON decodes GET url into v and returns the status code.
func getJSON(t *testing.T, url string, v any) int {
	t.Helper()
	resp, err := (&http.Client{Timeout: relTimeout}).Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return resp.StatusCode
}

// checkReady checks costlb_status's readiness answer for svc.
func (r *failoverRig) checkReady(t *testing.T, when string, want string) {
	t.Helper()
	var ans struct{ Routes []costRoute }
	if code := getJSON(t, r.status+"/ready/svc", &ans); code != 200 || fmt.Sprint(ans.Routes) != want {
		t.Fatalf("/ready/svc %s: %d %v, want 200 %v", when, code, ans.Routes, want)
	}
}

func runHTTPFailover(t *testing.T, active bool, checks string) {
	r := startFailoverRig(t, checks)
	for i := 0; i < 5; i++ {
		if code, name, err := harness.GetHTTP(r.url, relTimeout); err != nil || code != 200 || name != "primary" {
			t.Fatalf("before failover, request %d: %d %q %v", i, code, name, err)
		}
	}
	var status lbView
	if getJSON(t, r.status+"/status.json", &status); mustService(t, status, "svc").Kind != "http" {
		t.Fatalf("status.json shows svc as %+v", *mustService(t, status, "svc"))
	}
	r.checkReady(t, "with both sites up", "[east@0 east→dr@9999]")

	load := startHTTPLoad(r.url, 2)
	defer load.Stop()
	load.waitAnswers(t, time.Time{}, "primary", 5)
	r.primary.Stop()
	stopped := time.Now()
	harness.WaitFor(t, relTimeout, func() bool {
		return !mustBackend(t, mustService(t, mustView(t, r.c), "svc"), r.primary.Addr()).Healthy
	}, "the primary is seen down")
	detected := time.Now()
	t.Logf("primary seen down %v after it stopped", detected.Sub(stopped).Round(time.Millisecond))
	if err := r.c.WaitLog(`"to_site":"dr"`, relTimeout); err != nil {
		t.Fatalf("no failover log line: %v", err)
	}
	r.checkReady(t, "with east down", "[east→dr@9999]")
	load.waitAnswers(t, stopped, "backup", 10)
	r.primary.Restart()
	restarted := time.Now()
	harness.WaitFor(t, relTimeout, func() bool {
		recs := load.since(time.Now().Add(-100 * time.Millisecond))
		return len(recs) > 0 && recs[len(recs)-1].name == "primary"
	}, "requests return to the restarted primary")
	back := time.Now()
	t.Logf("requests back on the primary %v after its restart", back.Sub(restarted).Round(time.Millisecond))
	load.waitAnswers(t, back.Add(100*time.Millisecond), "", 5) // checked: all from the primary
	load.Stop()

	checkFrom := detected
	if !active {
		checkFrom = time.Time{} // retries hide the failure from every request
	}
	checkFailoverRecords(t, load, checkFrom, stopped, back)
	checkFailoverLogs(t, r.c, active)
}

// checkFailoverRecords checks the answers of a failover and failback: none
// failed from checkFrom on, none from the backup before the primary
// stopped, some from each during and after (runHTTPFailover waits for 10
// and 5), only the primary once back.
func checkFailoverRecords(t *testing.T, load *httpLoad, checkFrom, stopped, back time.Time) {
	t.Helper()
	recs := load.since(time.Time{})
	if bad := failures(load.since(checkFrom)); len(bad) > 0 {
		t.Errorf("%d failed requests (of %d) since %v, first: %+v", len(bad), len(recs), checkFrom.Format(time.StampMilli), bad[0])
	}
	var onBackup, onPrimaryAfter int
	for _, r := range recs {
		switch {
		case r.name == "backup" && r.at.Before(stopped):
			t.Errorf("the backup answered before the primary stopped")
		case r.name == "backup":
			onBackup++
		case r.name == "primary" && r.at.After(back):
			onPrimaryAfter++
		}
	}
	if onBackup < 10 || onPrimaryAfter < 5 {
		t.Errorf("%d requests on the backup during the failover, %d on the primary after it; want some of each", onBackup, onPrimaryAfter)
	}
	for _, r := range load.since(back.Add(100 * time.Millisecond)) {
		if r.name != "primary" {
			t.Fatalf("after the failback a request reached %q", r.name)
		}
	}
	t.Logf("%d requests, %d on the backup", len(recs), onBackup)
}

// checkFailoverLogs checks the failover and failback lines of svc: a
// failover east -> dr first, a failback to east last; with active checks
// exactly these two.
func checkFailoverLogs(t *testing.T, c *harness.Caddy, active bool) {
	t.Helper()
	shifts := shiftLogs(c.Logs(), "svc")
	if len(shifts) < 2 || shifts[0].Msg != "costlb failover" || shifts[0].From != "east" || shifts[0].To != "dr" ||
		shifts[len(shifts)-1].Msg != "costlb failback" || shifts[len(shifts)-1].To != "east" {
		t.Fatalf("shift log lines %+v; want a failover east -> dr first and a failback to east last", shifts)
	}
	if active && len(shifts) != 2 {
		t.Errorf("%d shift log lines with active health checks, want exactly one failover and one failback: %+v", len(shifts), shifts)
	}
}

// TestHTTPLongRequestsCount: a slow upload and a WebSocket count on their
// upstream for as long as they are open, so new requests go elsewhere.
func TestHTTPLongRequestsCount(t *testing.T) {
	a := harness.StartHTTPBackend(t, "a")
	b := harness.StartHTTPBackend(t, "b")
	byName := map[string]*harness.HTTPBackend{"a": a, "b": b}
	listen := harness.FreeAddr(t)
	c := harness.StartCaddy(t, httpCaddyfile("site east", "", httpSite{
		listen: listen, upstreams: []string{a.Addr(), b.Addr()}, policy: "name long",
	}), "caddyfile")
	other := map[string]string{"a": "b", "b": "a"}

	// liveOnly waits until exactly one upstream has one request in flight
	// and returns its name.
	liveOnly := func(what string) string {
		var name string
		harness.WaitFor(t, relTimeout, func() bool {
			la := mustBackend(t, mustService(t, mustView(t, c), "long"), a.Addr()).Live
			lb := mustBackend(t, mustService(t, mustView(t, c), "long"), b.Addr()).Live
			switch {
			case la == 1 && lb == 0:
				name = "a"
			case la == 0 && lb == 1:
				name = "b"
			}
			return name != ""
		}, what+" counted on one upstream")
		return name
	}
	// stillCounted checks, over a second, that name keeps its one request
	// in flight while a held request goes to the other upstream.
	stillCounted := func(what, name string) {
		got, held, err := harness.HoldHTTP("http://"+listen+"/hold", relTimeout)
		if err != nil || got != other[name] {
			t.Fatalf("with %s open on %s, a new request went to %q (%v), want %s", what, name, got, err, other[name])
		}
		defer held.Close()
		for i := 0; i < 10; i++ {
			if live := mustBackend(t, mustService(t, mustView(t, c), "long"), byName[name].Addr()).Live; live != 1 {
				t.Fatalf("%s open on %s: live count %d after %d ms, want 1", what, name, live, i*100)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	t.Run("slow upload", func(t *testing.T) {
		up := harness.StartSlowUpload("http://"+listen+"/upload", 1024, 50*time.Millisecond)
		name := liveOnly("the upload")
		stillCounted("an upload", name)
		got, n, err := up.Finish(relTimeout)
		if err != nil || got != name || n != up.Sent() || n < 10*1024 {
			t.Fatalf("upload answered by %q with %d bytes (%v); want %s with the %d sent", got, n, err, name, up.Sent())
		}
		waitIdle(t, c, "long")
	})
	t.Run("websocket", func(t *testing.T) {
		name, conn, err := harness.WebSocket(listen, "/ws", relTimeout)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if live := liveOnly("the websocket"); live != name {
			t.Fatalf("the websocket went to %s but %s is counted", name, live)
		}
		stillCounted("a websocket", name)
		if err := harness.EchoCheck(conn, []byte("still open after a second")); err != nil {
			t.Fatalf("websocket: %v", err)
		}
		conn.Close()
		waitIdle(t, c, "long")
	})
}
