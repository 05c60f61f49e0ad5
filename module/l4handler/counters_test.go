package l4handler

import (
	"fmt"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
	"github.com/costlb/costlb/module"
)

// TestCountersFollowConfigs: reloads that change a service's backend
// address leave only the counters the running config uses; a counter
// with a connection open outlives the config that removed its address,
// and goes when the connection does.
func TestCountersFollowConfigs(t *testing.T) {
	listen := harness.FreeAddr(t)
	cfg := func(addr string) string {
		return fmt.Sprintf(healthConfig, listen, addr, harness.FreeAddr(t), `"health_checks": {"passive": {"fail_duration": "1s"}}`)
	}
	held := harness.StartBackend(t, "held")
	loadConfig(t, cfg(held.Addr()), "svc")
	name, conn, err := harness.Hold(listen, 5*time.Second)
	if err != nil || name != "held" {
		t.Fatalf("holding a connection: %q %v", name, err)
	}
	defer conn.Close()
	for i := 0; i < 30; i++ {
		loadConfig(t, cfg(harness.FreeAddr(t)), "svc")
	}
	// the running config's two addresses, and the one a connection holds
	if n := module.Counters.Len(); n != 3 {
		t.Fatalf("%d counters after 30 reloads to new addresses, want 3 (2 in use, 1 with a connection open)", n)
	}
	conn.Close()
	harness.WaitFor(t, 5*time.Second, func() bool { return module.Counters.Len() == 2 }, "the held address's counter is freed")
}
