package integration

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// heldReady is a readiness endpoint that holds every poll until the test
// answers it, so the test knows each answer's place: a poll arrives only
// once the gateway's poller has recorded the answer before it.
type heldReady struct {
	url     string
	arrived chan chan bool // one per poll: send true for ready, false for 503
}

func startHeldReady(t *testing.T) *heldReady {
	t.Helper()
	h := &heldReady{arrived: make(chan chan bool)}
	h.url = readyServer(t, func(w http.ResponseWriter, r *http.Request) {
		answer := make(chan bool)
		select {
		case h.arrived <- answer:
		case <-r.Context().Done():
			return
		}
		select {
		case ready := <-answer:
			if !ready {
				w.WriteHeader(http.StatusServiceUnavailable)
				fmt.Fprint(w, `{"service": "web", "site": "G", "ready": false, "routes": []}`)
				return
			}
			fmt.Fprint(w, `{"service": "web", "site": "G", "ready": true, "routes": [{"sites": ["G"], "cost": 0}]}`)
		case <-r.Context().Done():
		}
	})
	return h
}

// next waits for the next poll and returns its answer channel.
func (h *heldReady) next(t *testing.T) chan bool {
	t.Helper()
	select {
	case a := <-h.arrived:
		return a
	case <-time.After(relTimeout):
		t.Fatalf("no readiness poll within %v", relTimeout)
		return nil
	}
}

// fmtReady writes a view's ready field.
func fmtReady(r *bool) string {
	if r == nil {
		return "absent"
	}
	return fmt.Sprint(*r)
}

// gatewayLines counts the gateway's ready and not-ready log lines.
func gatewayLines(logs string) (ready, notReady int) {
	return strings.Count(logs, `"msg":"costlb gateway ready"`), strings.Count(logs, `"msg":"costlb gateway not ready"`)
}

// TestGatewayReadinessDamped: with health_fall and health_rise, a gateway's
// ready state changes only after that many answers in a row, as Caddy's
// active checks do. A gateway whose answers alternate stays ready, with no
// log line and no failover, however long it flaps; a steady change flips
// it after exactly health_fall (health_rise) answers, with one gateway line
// and one failover (failback) line. Fall and rise differ, so that neither
// can stand in for the other.
func TestGatewayReadinessDamped(t *testing.T) {
	const fall, rise, flaps = 3, 4, 10
	srv := startHeldReady(t)
	gw, c1 := harness.StartBackend(t, "gw"), harness.StartBackend(t, "c1")
	listen := harness.FreeAddr(t)
	c := harness.StartCaddy(t, siteCaddyfile(`
		site A
		link A G 1
		link A C 10`, listen, fmt.Sprintf(`
			name web
			backend G %s {
				ready %s/ready/web
			}
			backend C %s
			health_interval 50ms
			health_timeout 10s
			health_fall %d
			health_rise %d`, gw.Addr(), srv.url, c1.Addr(), fall, rise), ""), "caddyfile")

	// answer answers the pending poll, waits for the next one (so the
	// answer is recorded) and checks the gateway's state then.
	pending := srv.next(t)
	answer := func(ready, want bool, what string) {
		t.Helper()
		pending <- ready
		pending = srv.next(t)
		b := mustBackend(t, mustService(t, mustView(t, c), "web"), gw.Addr())
		if b.Ready == nil || *b.Ready != want {
			t.Fatalf("%s: the gateway's ready is %s, want %v (%s)", what, fmtReady(b.Ready), want, b.NotReadyReason)
		}
	}
	// settled waits until every log line written so far has been read:
	// Caddy logs the admin request for marker after them.
	settled := func(marker string) string {
		t.Helper()
		marker = "/costlb/graph.dot?settled=" + marker
		if status, _, err := c.Get(marker); err != nil || status != http.StatusOK {
			t.Fatalf("GET %s: %d %v", marker, status, err)
		}
		if err := c.WaitLog(marker, relTimeout); err != nil {
			t.Fatal(err)
		}
		return c.Logs()
	}
	primary := func(want string) {
		t.Helper()
		harness.WaitFor(t, relTimeout, func() bool { return mustService(t, mustView(t, c), "web").PrimarySite == want }, "primary site "+want)
	}

	answer(true, true, "the first answer")
	primary("G")
	logs := settled("start")
	ready0, notReady0 := gatewayLines(logs)
	shifts0 := len(shiftLogs(logs, "web"))
	if ready0 != 1 || notReady0 != 0 {
		t.Fatalf("after the first answer: %d ready and %d not-ready lines, want 1 and 0", ready0, notReady0)
	}

	for i := 0; i < flaps; i++ {
		answer(false, true, fmt.Sprintf("flap %d, not ready", i+1))
		answer(true, true, fmt.Sprintf("flap %d, ready", i+1))
	}
	for i := 1; i < fall; i++ {
		answer(false, true, fmt.Sprintf("not-ready answer %d of %d", i, fall))
	}
	// the last answer of the flapping and of the not-ready run is checked
	// through the view above; any log line they wrote is read by now
	logs = settled("flapped")
	if r, n := gatewayLines(logs); r != ready0 || n != notReady0 {
		t.Errorf("%d alternating answers logged %d ready and %d not-ready lines, want none", 2*flaps, r-ready0, n-notReady0)
	}
	if s := len(shiftLogs(logs, "web")); s != shifts0 {
		t.Errorf("%d alternating answers logged %d failover or failback lines, want none", 2*flaps, s-shifts0)
	}

	answer(false, false, fmt.Sprintf("not-ready answer %d of %d", fall, fall))
	primary("C")
	for i := 1; i < rise; i++ {
		answer(true, false, fmt.Sprintf("ready answer %d of %d", i, rise))
	}
	answer(true, true, fmt.Sprintf("ready answer %d of %d", rise, rise))
	primary("G")
	logs = settled("changed")
	if r, n := gatewayLines(logs); r != ready0+1 || n != notReady0+1 {
		t.Errorf("a steady change each way logged %d ready and %d not-ready lines, want 1 each", r-ready0, n-notReady0)
	}
	shifts := shiftLogs(logs, "web")[shifts0:]
	if len(shifts) != 2 || shifts[0].Msg != "costlb failover" || shifts[0].To != "C" || shifts[1].Msg != "costlb failback" || shifts[1].To != "G" {
		t.Errorf("failover lines after a steady change each way: %+v; want a failover to C, then a failback to G", shifts)
	}
}
