package l4handler

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// peerConns reads caddy-l4's per-peer connection counter of backend i (the
// unexported peers[0].numConns of the upstream caddy-l4 provisioned for
// it), through reflection, for this test only.
func peerConns(h *Handler, i int) int64 {
	p := reflect.ValueOf(h.backends[i].checked).Elem().FieldByName("peers").Index(0).Elem()
	return p.FieldByName("numConns").FieldByName("v").Int()
}

// TestDataPathNeverCountsOnCaddyL4 proves the data path never calls
// caddy-l4's dial, whose countConn(1) is never undone: after connections
// through costlb, with retries and failed dials among them, caddy-l4's
// counter of every backend is still 0.
func TestDataPathNeverCountsOnCaddyL4(t *testing.T) {
	east, west := harness.StartBackend(t, "east"), harness.StartBackend(t, "west")
	listen := harness.FreeAddr(t)
	h := loadConfig(t, fmt.Sprintf(healthConfig, listen, east.Addr(), west.Addr(),
		`"health_checks": {"passive": {"fail_duration": "50ms"}}, "load_balancing": {"try_duration": "1s", "try_interval": "10ms"}`), "svc")
	for i := 0; i < 20; i++ {
		if i == 10 {
			east.Stop() // failed dials, retried on west
		}
		if _, err := harness.Once(listen, 2*time.Second); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
	}
	if picks := h.bal.State(0).Picks + h.bal.State(1).Picks; picks < 20 {
		t.Fatalf("%d picks for 20 connections", picks)
	}
	for i := range h.backends {
		if n := peerConns(h, i); n != 0 {
			t.Fatalf("caddy-l4's connection counter of %s is %d after connections through costlb, want 0", h.backends[i].addr(), n)
		}
	}
}

// TestOneLinkname: the link to caddy-l4's (*Upstream).healthy in health.go
// is the only go:linkname in costlb, so that the data path depends on no
// other unexported part of caddy-l4.
func TestOneLinkname(t *testing.T) {
	var found []string
	err := filepath.WalkDir(filepath.Join("..", ".."), func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for _, line := range strings.Split(string(data), "\n") {
			if strings.HasPrefix(line, "//go:linkname ") {
				found = append(found, path+": "+line)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	want := "//go:linkname upstreamHealthy github.com/mholt/caddy-l4/modules/l4proxy.(*Upstream).healthy"
	if len(found) != 1 || found[0] != filepath.Join("..", "..", "module", "l4handler", "health.go")+": "+want {
		t.Fatalf("go:linkname directives: %q; want only health.go's %q", found, want)
	}
}
