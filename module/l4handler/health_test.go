package l4handler

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	_ "github.com/mholt/caddy-l4/layer4"
	"github.com/mholt/caddy-l4/modules/l4proxy"

	"github.com/costlb/costlb/integration/harness"
	"github.com/costlb/costlb/module/internal/moduletest"
)

// loadConfig runs a Caddy config in this process and returns the costlb
// service named name.
func loadConfig(t testing.TB, cfg string, name string) *Handler {
	t.Helper()
	return moduletest.Load[*Handler](t, cfg, name)
}

const healthConfig = `{
	"admin": {"disabled": true},
	"apps": {
		"costlb": {"site": "east", "links": [{"between": ["east", "west"], "cost": 5}]},
		"layer4": {"servers": {"s": {"listen": [%q], "routes": [{"handle": [{
			"handler": "costlb", "name": "svc",
			"backends": [{"site": "east", "dial": [%q]}, {"site": "west", "dial": [%q]}],
			%s
		}]}]}}}
	}
}`

// TestHealthFollowsCaddyL4Active proves the linkname to caddy-l4's
// (*Upstream).healthy reads real active health check state.
func TestHealthFollowsCaddyL4Active(t *testing.T) {
	east, west := harness.StartBackend(t, "east"), harness.StartBackend(t, "west")
	listen := harness.FreeAddr(t)
	h := loadConfig(t, fmt.Sprintf(healthConfig, listen, east.Addr(), west.Addr(),
		`"health_checks": {"active": {"interval": "50ms", "timeout": "200ms"}}`), "svc")
	if !upstreamHealthy(h.proxy.Upstreams[0]) || !upstreamHealthy(h.proxy.Upstreams[1]) {
		t.Fatal("backends start unhealthy")
	}
	if got, err := harness.Once(listen, 2*time.Second); err != nil || got != "east" {
		t.Fatalf("first connection reached %q (%v), want east", got, err)
	}
	east.Stop()
	harness.WaitFor(t, 3*time.Second, func() bool { return !upstreamHealthy(h.proxy.Upstreams[0]) }, "active check marks east down")
	if !upstreamHealthy(h.proxy.Upstreams[1]) {
		t.Fatal("west marked down too")
	}
	if got, err := harness.Once(listen, 2*time.Second); err != nil || got != "west" {
		t.Fatalf("with east down reached %q (%v), want west", got, err)
	}
	east.Restart()
	harness.WaitFor(t, 3*time.Second, func() bool { return upstreamHealthy(h.proxy.Upstreams[0]) }, "active check marks east up")
	if got, err := harness.Once(listen, 2*time.Second); err != nil || got != "east" {
		t.Fatalf("after recovery reached %q (%v), want east", got, err)
	}
}

// TestPassiveHealth proves costlb's passive health checks, which replaced
// caddy-l4's with the same meaning: a failed dial counts a failure for
// fail_duration, then it is forgotten. Passive health is costlb's own now,
// so it is read from the backend's health probe, not from caddy-l4.
func TestPassiveHealth(t *testing.T) {
	east, west := harness.StartBackend(t, "east"), harness.StartBackend(t, "west")
	listen := harness.FreeAddr(t)
	h := loadConfig(t, fmt.Sprintf(healthConfig, listen, east.Addr(), west.Addr(),
		`"health_checks": {"passive": {"fail_duration": "700ms"}}, "load_balancing": {"try_duration": "1s", "try_interval": "20ms"}`), "svc")
	healthy := func() bool { return h.bal.State(0).Healthy }
	east.Stop()
	if !healthy() {
		t.Fatal("east unhealthy before any failed dial")
	}
	// the dial to east fails, passive checks mark it down, the retry goes west
	if got, err := harness.Once(listen, 2*time.Second); err != nil || got != "west" {
		t.Fatalf("connection reached %q (%v), want west after the retry", got, err)
	}
	if healthy() {
		t.Fatal("failed dial did not mark east unhealthy")
	}
	east.Restart()
	start := time.Now()
	harness.WaitFor(t, 3*time.Second, healthy, "fail_duration expiry")
	took := time.Since(start)
	if took < 300*time.Millisecond {
		t.Fatalf("east healthy again after %v, before fail_duration 700ms", took)
	}
	if got, err := harness.Once(listen, 2*time.Second); err != nil || got != "east" {
		t.Fatalf("after fail_duration reached %q (%v), want east", got, err)
	}
	for i, st := 0, h.bal; i < st.Len(); i++ {
		harness.WaitFor(t, 2*time.Second, func() bool { return st.State(i).Live == 0 }, "live count back to 0")
	}
}

// peerOf returns the identity of caddy-l4's shared peer entry of u (its
// unexported peers[0]), read through reflection for this test only.
func peerOf(u *l4proxy.Upstream) uintptr {
	return reflect.ValueOf(u).Elem().FieldByName("peers").Index(0).Pointer()
}

// TestRefusedConfigTakesNoPeers: what caddy-l4 would refuse after taking
// shared peer entries for the backends before it (a bad TLS file, a
// local_addr of the wrong family for resolver_preference) costlb refuses
// before caddy-l4 runs, so the refused config holds no entry: once the
// configs using the good address are gone, the next one gets a fresh entry.
func TestRefusedConfigTakesNoPeers(t *testing.T) {
	_ = caddy.Stop()
	a := harness.FreeAddr(t)
	cfg := func(backends string) string {
		return fmt.Sprintf(`{"admin": {"disabled": true}, "logging": {"logs": {"default": {"level": "ERROR"}}}, "apps": {
			"costlb": {"site": "east"},
			"layer4": {"servers": {"s": {"listen": [%q], "routes": [{"handle": [{
				"handler": "costlb", "name": "svc", "backends": [%s]}]}]}}}}}`, harness.FreeAddr(t), backends)
	}
	good := fmt.Sprintf(`{"site": "east", "dial": [%q]}`, a)
	for _, tc := range []struct{ bad, want string }{
		{`{"site": "east", "dial": ["127.0.0.1:1"], "tls": {"client_certificate_file": "/nonexistent/c.pem", "client_certificate_key_file": "/nonexistent/k.pem"}}`,
			`address "127.0.0.1:1": making TLS client config`},
		{`{"site": "east", "dial": ["127.0.0.1:1"], "resolver_preference": "ipv6_only", "local_address": ["127.0.0.3"]}`,
			`address "127.0.0.1:1": resolver_preference ipv6_only needs a local_address of IPv6, but none of ["127.0.0.3"] is`},
	} {
		err := caddy.Load([]byte(cfg(good+","+tc.bad)), true)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Fatalf("config with %s: got %v, want an error containing %q", tc.bad, err, tc.want)
		}
		first := loadConfig(t, cfg(good), "svc")
		p1 := peerOf(first.proxy.Upstreams[0])
		if err := caddy.Stop(); err != nil {
			t.Fatal(err)
		}
		second := loadConfig(t, cfg(good), "svc")
		if p2 := peerOf(second.proxy.Upstreams[0]); p2 == p1 {
			t.Fatalf("config with %s: a reference of the refused config kept the peer entry alive after every config using it stopped", tc.bad)
		}
		if err := caddy.Stop(); err != nil {
			t.Fatal(err)
		}
	}
}
