package integration

// Helpers for the tests on the multi-site lab network (../netlab): sites
// in network namespaces joined by a wire that delays and cuts packets.

import (
	"fmt"
	"net"
	"testing"

	"github.com/costlb/costlb/integration/harness"
	"github.com/costlb/costlb/integration/netlab"
)

// labAddr returns "<site address>:<free port>": an address to listen on
// inside the site.
func labAddr(t *testing.T, lab *netlab.Lab, site string) string {
	t.Helper()
	return lab.HostPort(site, harness.FreePort(t))
}

// labStatusSite is statusSite for a Caddy in a lab site: a costlb_status
// site bound to the site's address (addr's host).
func labStatusSite(lab *netlab.Lab, site, addr string) string {
	return fmt.Sprintf(`
http://%s {
	bind %s
	costlb_status
}
`, addr, lab.Addr(site))
}

// holdEach opens n connections to addr one after the other, each held
// open (Cleanup closes them too), and returns the backend each reached and
// the connections.
func holdEach(t *testing.T, addr string, n int) ([]string, []net.Conn) {
	t.Helper()
	names := make([]string, 0, n)
	conns := make([]net.Conn, 0, n)
	for i := range n {
		name, conn, err := harness.Hold(addr, dialTimeout)
		if err != nil {
			t.Fatalf("held connection %d to %s: %v", i, addr, err)
		}
		t.Cleanup(func() { conn.Close() })
		names = append(names, name)
		conns = append(conns, conn)
	}
	return names, conns
}
