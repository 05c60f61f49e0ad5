package integration

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// strayLinkMsg is the warning Caddy logs at load for a link no service can
// use.
const strayLinkMsg = "costlb link of no use to this Caddy"

// strayLinkLogs returns the links of the stray-link warnings in logs, with
// their reasons.
func strayLinkLogs(logs string) map[string][]string {
	out := map[string][]string{}
	eachLogLine(logs, func(line []byte) {
		var l struct {
			Level  string `json:"level"`
			Msg    string `json:"msg"`
			Link   string `json:"link"`
			Reason string `json:"reason"`
		}
		if json.Unmarshal(line, &l) == nil && l.Msg == strayLinkMsg && l.Level == "warn" {
			out[l.Link] = append(out[l.Link], l.Reason)
		}
	})
	return out
}

// TestStrayLinkWarnsAtLoad: a network with a link no path from the local
// site reaches and a link to a site no service uses loads and serves, and
// Caddy logs one warning per such link, naming it and why; the used link
// gets none.
func TestStrayLinkWarnsAtLoad(t *testing.T) {
	east := harness.StartBackend(t, "east")
	west := harness.StartBackend(t, "west")
	listen := harness.FreeAddr(t)
	c := harness.StartCaddy(t, costlbCaddyfile(`
		site east
		link east west 5
		link south north 3
		link west far 1`, l4Route{listen, fmt.Sprintf(`costlb {
		name orders
		backend east %s
		backend west %s
	}`, east.Addr(), west.Addr())}), "caddyfile")

	if name, err := harness.Once(listen, dialTimeout); err != nil || name != "east" {
		t.Fatalf("through caddy: %q, %v", name, err)
	}
	want := map[string]string{
		`"south"–"north" (cost 3)`: `no path from the local site "east" reaches it`,
		`"west"–"far" (cost 1)`:    `site "far" has no backend of any service and is on no cheapest path from the local site "east" to a backend's site`,
	}
	harness.WaitFor(t, 5*time.Second, func() bool { return len(strayLinkLogs(c.Logs())) >= len(want) }, "the stray-link warnings should be logged")
	got := strayLinkLogs(c.Logs())
	if len(got) != len(want) {
		t.Errorf("warned of links %v; want exactly %d: %v", got, len(want), want)
	}
	for link, why := range want {
		reasons := got[link]
		if len(reasons) != 1 || !strings.Contains(reasons[0], why) {
			t.Errorf("link %s: warnings %q; want one containing %q", link, reasons, why)
		}
	}
}

// TestStrayLinkNoWarningForExamples: the examples load without a
// stray-link warning (chain sites link to the sites that use them as
// gateways; transit sites are used).
func TestStrayLinkNoWarningForExamples(t *testing.T) {
	for _, tc := range []struct{ name, network, handler string }{
		{"quickstart", `
			site east
			link east west 5
			link west north 9994`, "backend east %[1]s\nbackend west %[2]s\nbackend north %[3]s"},
		{"chain c", `
			site c
			link b c 3`, "backend c %[1]s"},
		{"transit", `
			site east
			link east west 5
			link west north 1`, "backend north %[1]s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			be := harness.StartBackend(t, "x")
			be2 := harness.StartBackend(t, "y")
			be3 := harness.StartBackend(t, "z")
			listen := harness.FreeAddr(t)
			c := harness.StartCaddy(t, costlbCaddyfile(tc.network, l4Route{listen, "costlb {\n" + fmt.Sprintf(tc.handler, be.Addr(), be2.Addr(), be3.Addr()) + "\n}"}), "caddyfile")
			if _, err := harness.Once(listen, dialTimeout); err != nil {
				t.Fatalf("through caddy: %v", err)
			}
			if got := strayLinkLogs(c.Logs()); len(got) != 0 {
				t.Errorf("warned of %v", got)
			}
		})
	}
}
