package integration

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// TestSameServerWarning: two backends of a service that reach one server
// by two dial addresses (127.0.0.1:P and localhost:P) have two live counts;
// Caddy logs one warning naming both addresses and the IP and port they
// share, and still runs the config.
func TestSameServerWarning(t *testing.T) {
	b := harness.StartBackend(t, "east")
	port := b.Addr()[strings.LastIndex(b.Addr(), ":")+1:]
	listen := harness.FreeAddr(t)
	c := harness.StartCaddy(t, fmt.Sprintf(`{
	admin {ADMIN}
	costlb {
		site east
	}
	layer4 {
		%s {
			route {
				costlb {
					name twice
					backend east 127.0.0.1:%s localhost:%s
				}
			}
		}
	}
}
`, listen, port, port), "caddyfile")
	const msg = "costlb backends reach the same server"
	if err := c.WaitLog(msg, 5*time.Second); err != nil {
		t.Fatalf("no warning: %v\n%s", err, c.Logs())
	}
	var warnings []map[string]any
	for _, line := range strings.Split(c.Logs(), "\n") {
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) == nil && strings.HasPrefix(fmt.Sprint(entry["msg"]), msg) {
			warnings = append(warnings, entry)
		}
	}
	if len(warnings) != 1 {
		t.Fatalf("%d warnings, want 1:\n%v", len(warnings), warnings)
	}
	w := warnings[0]
	want := map[string]string{
		"level": "warn", "service": "twice", "address": "127.0.0.1:" + port,
		"other_address": "localhost:" + port, "resolved": "127.0.0.1:" + port,
	}
	for k, v := range want {
		if w[k] != v {
			t.Errorf("warning %s = %v, want %q (entry %v)", k, w[k], v, w)
		}
	}
	if name, err := harness.Once(listen, dialTimeout); err != nil || name != "east" {
		t.Errorf("through caddy: %q, %v", name, err)
	}
}
