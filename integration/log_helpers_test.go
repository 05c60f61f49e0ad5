package integration

// Reading the lines Caddy logged.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// shiftLog is one "costlb failover" / "costlb failback" log line.
type shiftLog struct {
	Msg     string  `json:"msg"`
	TS      float64 `json:"ts"`
	Service string  `json:"service"`
	From    string  `json:"from_site"`
	To      string  `json:"to_site"`
	Reason  string  `json:"reason"`
}

// eachLogLine calls f with each line of logs, lines up to 4 MiB long.
func eachLogLine(logs string, f func(line []byte)) {
	sc := bufio.NewScanner(strings.NewReader(logs))
	sc.Buffer(make([]byte, 0, 64*1024), 4*1024*1024)
	for sc.Scan() {
		f(sc.Bytes())
	}
}

// shiftLogs returns the failover and failback lines Caddy logged for service.
func shiftLogs(logs, service string) []shiftLog {
	var out []shiftLog
	eachLogLine(logs, func(line []byte) {
		if !strings.Contains(string(line), "costlb fail") {
			return
		}
		var l shiftLog
		if json.Unmarshal(line, &l) != nil || l.Service != service {
			return
		}
		if l.Msg == "costlb failover" || l.Msg == "costlb failback" {
			out = append(out, l)
		}
	})
	return out
}

// healthTimeouts returns the timestamps of caddy-l4 active health checks of
// addr that failed by timing out rather than being refused.
func healthTimeouts(logs, addr string) []float64 {
	var out []float64
	eachLogLine(logs, func(b []byte) {
		line := string(b)
		if !strings.Contains(line, "active health check failed") || !strings.Contains(line, addr) {
			return
		}
		var l struct {
			Msg     string  `json:"msg"`
			TS      float64 `json:"ts"`
			Address string  `json:"address"`
			Error   string  `json:"error"`
		}
		if json.Unmarshal([]byte(line), &l) == nil && l.Msg == "active health check failed" &&
			l.Address == addr && strings.Contains(l.Error, "timeout") {
			out = append(out, l.TS)
		}
	})
	return out
}

// checkShifts waits until c has logged as many failover and failback
// lines for service svc as want has (a service without traffic logs at
// its next look, within a health interval), then checks them, as
// "msg from->to".
func checkShifts(t *testing.T, c *harness.Caddy, svc string, want ...string) {
	t.Helper()
	lines := func() []string {
		var got []string
		for _, l := range shiftLogs(c.Logs(), svc) {
			got = append(got, l.Msg+" "+l.From+"->"+l.To)
		}
		return got
	}
	harness.WaitFor(t, 10*time.Second, func() bool { return len(lines()) >= len(want) }, fmt.Sprintf("%d shift lines of %s", len(want), svc))
	if got := lines(); strings.Join(got, "; ") != strings.Join(want, "; ") {
		t.Errorf("%s logged %q, want %q", svc, got, want)
	}
}
