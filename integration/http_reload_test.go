package integration

import (
	"fmt"
	"testing"

	"github.com/costlb/costlb/integration/harness"
)

// TestHTTPReloadKeepsCounts: a config reload with requests in flight keeps
// their counts (Caddy shares upstream hosts by address): new requests are
// placed with the old ones counted, and the old ones finish cleanly.
func TestHTTPReloadKeepsCounts(t *testing.T) {
	east := harness.StartHTTPBackend(t, "east")
	west := harness.StartHTTPBackend(t, "west")
	listen := harness.FreeAddr(t)
	cfg := func(cost int) string {
		return httpCaddyfile(fmt.Sprintf(`
			site east
			link east west %d`, cost), "", httpSite{
			listen: listen, upstreams: []string{east.Addr(), west.Addr()}, policy: fmt.Sprintf(`
				name svc
				site west %s`, west.Addr()),
		})
	}
	c := harness.StartCaddy(t, cfg(5), "caddyfile")
	url := "http://" + listen + "/hold"

	var old []*harness.HeldRequest
	for i := 0; i < 4; i++ {
		name, held, err := harness.HoldHTTP(url, relTimeout)
		if err != nil || name != "east" {
			t.Fatalf("cost 5, request %d: %q %v; want east (perceived %d < 5)", i, name, err, i)
		}
		t.Cleanup(func() { held.Close() })
		old = append(old, held)
	}

	// Caddy's /load may wait for the old config's requests to finish
	// before it answers: send it aside.
	loaded := make(chan error, 1)
	go func() {
		status, body, err := c.Load([]byte(cfg(1)), "text/caddyfile")
		if err == nil && status != 200 {
			err = fmt.Errorf("status %d: %s", status, body)
		}
		loaded <- err
	}()
	harness.WaitFor(t, relTimeout, func() bool {
		v, _, err := fetchView(c)
		if err != nil {
			return false
		}
		for _, s := range v.Sites {
			if s.Name == "west" {
				return s.PathCost == 1
			}
		}
		return false
	}, "the reloaded config (west at cost 1) serves")
	s := mustService(t, mustView(t, c), "svc")
	if e, w := mustBackend(t, s, east.Addr()), mustBackend(t, s, west.Addr()); e.Live != 4 || w.Live != 0 || w.PathCost != 1 {
		t.Fatalf("after the reload: east %+v, west %+v; want the 4 in flight counted on east", *e, *w)
	}

	got := holdHTTPN(t, url, 4)
	want := expectHeld([]ruleBackend{{"east", 0}, {"west", 1}}, map[string]int{"east": 4}, 4)
	if !sameCounts(got, want) {
		t.Fatalf("after the reload 4 more requests landed %v; with the 4 in flight counted the rules imply %v", got, want)
	}
	east.Release()
	west.Release()
	for i, h := range old {
		if err := h.Finish(relTimeout); err != nil {
			t.Errorf("request %d in flight across the reload: %v", i, err)
		}
	}
	if err := <-loaded; err != nil {
		t.Fatalf("reload: %v", err)
	}
	waitIdle(t, c, "svc")
}
