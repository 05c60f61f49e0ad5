package integration

// max_connections: costlb caps concurrent connections and frees a place when
// a connection ends, unlike caddy-l4's own proxy.

import (
	"fmt"
	"net"
	"strings"
	"testing"

	"github.com/costlb/costlb/integration/harness"
)

// cappedRig is a Caddy with two services whose local backend has
// max_connections 2: capped (listening on capped) over m1 with m2 in west
// (cost 5) behind it, and capped-alone (listening on alone) over m3 only.
type cappedRig struct {
	c             *harness.Caddy
	m1, m2, m3    *harness.Backend
	capped, alone string
}

func startCappedRig(t *testing.T) *cappedRig {
	r := &cappedRig{
		m1: harness.StartBackend(t, "m1"), m2: harness.StartBackend(t, "m2"), m3: harness.StartBackend(t, "m3"),
		capped: harness.FreeAddr(t), alone: harness.FreeAddr(t),
	}
	r.c = harness.StartCaddy(t, costlbCaddyfile(`
		site east
		link east west 5`,
		l4Route{r.capped, fmt.Sprintf(`costlb {
			name capped
			backend east %s {
				max_connections 2
			}
			backend west %s
		}`, r.m1.Addr(), r.m2.Addr())},
		l4Route{r.alone, fmt.Sprintf(`costlb {
			name capped-alone
			backend east %s {
				max_connections 2
			}
		}`, r.m3.Addr())},
	), "caddyfile")
	return r
}

// TestReliabilityMaxConnectionsCapsHeld holds three connections to each
// service: capped places the third on m2, capped-alone refuses it.
func TestReliabilityMaxConnectionsCapsHeld(t *testing.T) {
	r := startCappedRig(t)

	// capped: m1 (local, max 2) then m2 (west, cost 5)
	var conns []net.Conn
	var names []string
	for range 3 {
		name, conn, err := harness.Hold(r.capped, relTimeout)
		if err != nil {
			t.Fatalf("held connection %d to capped: %v", len(conns)+1, err)
		}
		conns, names = append(conns, conn), append(names, name)
	}
	if strings.Join(names, ",") != "m1,m1,m2" {
		t.Errorf("3 held connections to capped went to %v; want m1, m1, then m2 (m1 is at max_connections 2)", names)
	}
	s := mustService(t, mustView(t, r.c), "capped")
	if b := mustBackend(t, s, r.m1.Addr()); b.Live != 2 || b.Available || b.MaxConnections != 2 {
		t.Errorf("capped m1 with 2 held: live %d available %t max %d; want 2, false, 2", b.Live, b.Available, b.MaxConnections)
	}
	if b := mustBackend(t, s, r.m2.Addr()); b.Live != 1 {
		t.Errorf("capped m2: live %d, want 1", b.Live)
	}
	for _, conn := range conns {
		_ = closeAndDrain(conn)
	}

	// capped-alone: m3 (max 2) is the only backend: the third is refused
	conns = conns[:0]
	for i := range 3 {
		name, conn, err := harness.Hold(r.alone, relTimeout)
		switch {
		case i < 2 && (err != nil || name != "m3"):
			t.Fatalf("held connection %d to capped-alone: %q, %v; want m3", i+1, name, err)
		case i < 2:
			conns = append(conns, conn)
		case err == nil:
			_ = conn.Close()
			t.Errorf("third held connection to capped-alone reached %q; want it refused (m3 is at max_connections 2, no other backend)", name)
		case !isRefused(err):
			t.Errorf("third held connection to capped-alone: %v; want closed before a greeting", err)
		}
	}
	for _, conn := range conns {
		_ = closeAndDrain(conn)
	}
	waitAllLiveZero(t, r.c, relTimeout)
}

// TestReliabilityMaxConnectionsFreedOnClose opens 100 connections one after
// the other to each capped service, each finished before the next: with
// max_connections 2 every one reaches the capped local backend.
func TestReliabilityMaxConnectionsFreedOnClose(t *testing.T) {
	r := startCappedRig(t)
	const seq = 100
	for _, tc := range []struct{ svc, listen, want, addr string }{
		{"capped", r.capped, "m1", r.m1.Addr()},
		{"capped-alone", r.alone, "m3", r.m3.Addr()},
	} {
		ok := 0
		for i := range seq {
			name, conn, err := harness.Hold(tc.listen, relTimeout)
			if err != nil || name != tc.want {
				t.Errorf("%s: sequential connection %d: %q, %v; want %s", tc.svc, i+1, name, err, tc.want)
				if err != nil {
					continue
				}
			} else {
				ok++
			}
			if err := closeAndDrain(conn); err != nil {
				t.Errorf("%s: closing sequential connection %d: %v", tc.svc, i+1, err)
			}
			waitCounterEquals(t, r.c, tc.addr, 0)
		}
		t.Logf("FIGURES max_connections 2: %s: %d/%d sequential connections succeeded on %s", tc.svc, ok, seq, tc.want)
	}
	waitAllLiveZero(t, r.c, relTimeout)
}

// TestReliabilityCaddyL4ProxyMaxConnectionsNotFreed is the contrast:
// caddy-l4's own proxy with max_connections 2 never decrements its count and
// refuses the third sequential connection.
func TestReliabilityCaddyL4ProxyMaxConnectionsNotFreed(t *testing.T) {
	p1 := harness.StartBackend(t, "p1")
	listen := harness.FreeAddr(t)
	harness.StartCaddy(t, costlbCaddyfile("site east", l4Route{listen, fmt.Sprintf(`proxy {
		upstream %s {
			max_connections 2
		}
	}`, p1.Addr())}), "caddyfile")

	var plain []string
	for i := range 3 {
		name, conn, err := harness.Hold(listen, relTimeout)
		if err != nil {
			plain = append(plain, "refused")
			if i == 2 && !isRefused(err) {
				t.Errorf("plain proxy, sequential connection 3: %v; want closed before a greeting", err)
			}
			continue
		}
		plain = append(plain, name)
		_ = closeAndDrain(conn)
		harness.WaitFor(t, relTimeout, func() bool { return p1.Open() == 0 }, "p1 still has the connection open")
	}
	if strings.Join(plain, ",") != "p1,p1,refused" {
		t.Errorf("caddy-l4 proxy with max_connections 2, 3 sequential connections: %v; want p1, p1, refused", plain)
	}
	t.Logf("FIGURES caddy-l4 proxy max_connections 2, 3 sequential connections: %v", plain)
}
