package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// historyDoc is GET <costlb_status>/history.json, decoded independently of
// the module.
type historyDoc struct {
	IntervalMS int64      `json:"interval_ms"`
	Length     int        `json:"length"`
	Last       *time.Time `json:"last"`
	Services   []struct {
		Name     string  `json:"name"`
		Live     []int64 `json:"live"`
		New      []int64 `json:"new"`
		Refused  []int64 `json:"refused"`
		Backends []struct {
			Site        string  `json:"site"`
			Address     string  `json:"address"`
			Live        []int64 `json:"live"`
			New         []int64 `json:"new"`
			FailedDials []int64 `json:"failed_dials"`
			ToBackend   []int64 `json:"to_backend"`
			ToClient    []int64 `json:"to_client"`
		} `json:"backends"`
	} `json:"services"`
	Events []historyEvent `json:"events"`
}

// historyEvent is one event of history.json.
type historyEvent struct {
	Time    time.Time `json:"time"`
	Kind    string    `json:"kind"`
	Service string    `json:"service"`
	Site    string    `json:"site"`
	Backend string    `json:"backend"`
	From    string    `json:"from"`
	To      string    `json:"to"`
	Link    []string  `json:"link"`
	Reason  string    `json:"reason"`
}

// getHistory reads history.json from the costlb_status at url (its
// query included).
func getHistory(t testing.TB, url string) historyDoc {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var d historyDoc
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(&d); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return d
}

// event returns the first event of kind (about backend, if not "").
func (d historyDoc) event(kind, backend string) (historyEvent, bool) {
	for _, e := range d.Events {
		if e.Kind == kind && (backend == "" || e.Backend == backend) {
			return e, true
		}
	}
	return historyEvent{}, false
}

func sum(xs []int64) int64 {
	var n int64
	for _, x := range xs {
		n += x
	}
	return n
}

// TestHistoryAndTrafficMetrics proxies a known number of bytes past a
// backend that cannot be dialed, on each data-path engine, and checks
// that /metrics counts them (per direction) within a second, while the
// connection is still open, with the failed dial, the failover and each
// backend's health; that history.json has the same in its series with the
// backend down event and its reason; and that a reload through the admin
// API keeps all of it and adds a reload and a cost change event.
func TestHistoryAndTrafficMetrics(t *testing.T) {
	// auto takes the event loop for plain TCP on Linux
	for _, dataPath := range []string{"auto", "goroutines"} {
		t.Run(dataPath, func(t *testing.T) { testHistoryAndTrafficMetrics(t, dataPath) })
	}
}

func testHistoryAndTrafficMetrics(t *testing.T, dataPath string) {
	west := harness.StartBackend(t, "west")
	dead := harness.FreeAddr(t) // nothing listens: its dial fails
	listen, status := harness.FreeAddr(t), harness.FreeAddr(t)
	config := func(cost int) string {
		return costlbCaddyfile(fmt.Sprintf("site east\nlink east west %d", cost), costlbRoute(listen, `
		name hist
		backend east %s
		backend west %s
		fail_duration 1m
		max_fails 1
		lb_try_duration 3s
		lb_try_interval 20ms
		data_path %s`, dead, west.Addr(), dataPath)) + statusSite(status)
	}
	c := harness.StartCaddy(t, config(5), "caddyfile")

	// the pick goes to east (cost 0), whose dial fails and marks it down
	// for fail_duration; the retry reaches west
	name, conn, err := harness.Hold(listen, dialTimeout)
	if err != nil || name != "west" {
		t.Fatalf("connection: reached %q, %v; want west", name, err)
	}
	payload := bytes.Repeat([]byte("0123456789"), 10_000)
	if err := harness.EchoCheck(conn, payload); err != nil {
		t.Fatal(err)
	}
	moved := time.Now()
	wantBytes := map[string]float64{
		fmt.Sprintf(`caddy_costlb_bytes_total{direction="to_backend",service="hist",upstream=%q}`, west.Addr()): float64(len(payload)),
		fmt.Sprintf(`caddy_costlb_bytes_total{direction="to_client",service="hist",upstream=%q}`, west.Addr()):  float64(len("west\n") + len(payload)),
	}
	var m map[string]float64
	harness.WaitFor(t, time.Second, func() bool {
		m = metricValues(t, c, "caddy_costlb_bytes_total")
		for k, v := range wantBytes {
			if m[k] != v {
				return false
			}
		}
		return true
	}, "the open connection's bytes in /metrics within a second")
	t.Logf("bytes in /metrics %v after they moved, the connection still open", time.Since(moved).Round(time.Millisecond))
	conn.Close()
	waitIdle(t, c, "hist")
	m = metricValues(t, c, "caddy_costlb_")
	for k, v := range map[string]float64{
		fmt.Sprintf(`caddy_costlb_failed_dials_total{service="hist",upstream=%q}`, dead):        1,
		fmt.Sprintf(`caddy_costlb_failed_dials_total{service="hist",upstream=%q}`, west.Addr()): 0,
		fmt.Sprintf(`caddy_costlb_backend_healthy{service="hist",upstream=%q}`, dead):           0,
		fmt.Sprintf(`caddy_costlb_backend_healthy{service="hist",upstream=%q}`, west.Addr()):    1,
	} {
		if got, ok := m[k]; !ok || got != v {
			t.Errorf("%s = %v (present %v), want %v", k, got, ok, v)
		}
	}

	// the history has the same, and why east is down
	url := "http://" + status + "/history.json"
	var d historyDoc
	harness.WaitFor(t, 5*time.Second, func() bool {
		d = getHistory(t, url)
		if len(d.Services) != 1 || len(d.Services[0].Backends) != 2 {
			return false
		}
		var tb, tc, failed int64
		for _, b := range d.Services[0].Backends {
			tb, tc, failed = tb+sum(b.ToBackend), tc+sum(b.ToClient), failed+sum(b.FailedDials)
		}
		_, down := d.event("backend_down", dead)
		return tb == int64(len(payload)) && tc == int64(len(payload)+5) && failed == 1 && down
	}, "history.json with the bytes, the failed dial and east's backend_down event")
	if d.IntervalMS != 1000 || d.Length != 900 || d.Last == nil {
		t.Errorf("history.json: interval %d ms, length %d, last %v; want 1000, 900 and a time", d.IntervalMS, d.Length, d.Last)
	}
	if e, _ := d.event("backend_down", dead); e.Service != "hist" || e.Site != "east" || !strings.Contains(e.Reason, "passive health check: 1 failed connections") {
		t.Errorf("backend_down event %+v: want service hist, site east and the passive check's reason", e)
	}
	if sv := d.Services[0]; sum(sv.New) < 1 || len(sv.Live) != len(sv.New) || len(sv.Live) != len(sv.Refused) {
		t.Errorf("service series: new %v, lengths live %d new %d refused %d", sv.New, len(sv.Live), len(sv.New), len(sv.Refused))
	}
	if h := getHistory(t, url+"?backends=0"); len(h.Services) != 1 || h.Services[0].Backends != nil {
		t.Errorf("?backends=0 kept the backends' series: %+v", h.Services)
	}
	if resp, err := http.Get(url + "?backends=2"); err != nil || resp.StatusCode != http.StatusBadRequest {
		t.Errorf("?backends=2: %v %v, want 400", resp.Status, err)
	} else {
		resp.Body.Close()
	}
	points := len(d.Services[0].Live)

	// a reload that changes a link's cost: the totals and series carry on
	cfg := strings.ReplaceAll(config(7), harness.AdminPlaceholder, c.AdminAddr())
	if st, body, err := c.Load([]byte(cfg), "text/caddyfile"); err != nil || st != http.StatusOK {
		t.Fatalf("reload: %d %s %v", st, body, err)
	}
	harness.WaitFor(t, 5*time.Second, func() bool {
		d = getHistory(t, url)
		_, reload := d.event("reload", "")
		_, cost := d.event("cost_change", "")
		return reload && cost && len(d.Services) == 1 && len(d.Services[0].Live) > points
	}, "reload and cost change events, the series carrying on")
	if e, _ := d.event("cost_change", ""); strings.Join(e.Link, " ") != "east west" || e.From != "5" || e.To != "7" {
		t.Errorf("cost change event %+v, want link east west from 5 to 7", e)
	}
	m = metricValues(t, c, "caddy_costlb_bytes_total")
	for k, v := range wantBytes {
		if m[k] != v {
			t.Errorf("after the reload %s = %v, want %v", k, m[k], v)
		}
	}
}
