package harness

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// SetSysctl sets the kernel setting name (such as
// "net.ipv4.tcp_migrate_req") to value for the test and restores the value
// it had when the test ends. It returns an error, and changes nothing,
// when the setting cannot be read or written (not root, not Linux, a
// kernel without it).
func SetSysctl(tb testing.TB, name, value string) error {
	tb.Helper()
	path := filepath.Join("/proc/sys", strings.ReplaceAll(name, ".", "/"))
	old, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read %s: %w", name, err)
	}
	if err := os.WriteFile(path, []byte(value), 0o644); err != nil {
		return fmt.Errorf("set %s=%s: %w", name, value, err)
	}
	tb.Cleanup(func() {
		if err := os.WriteFile(path, old, 0o644); err != nil {
			tb.Errorf("restore %s=%s: %v", name, strings.TrimSpace(string(old)), err)
		}
	})
	return nil
}

// SkipUnlessCI skips the test with reason, or fails it when the
// environment says CI=true: what a test needs must exist in CI.
func SkipUnlessCI(tb testing.TB, reason string) {
	tb.Helper()
	if os.Getenv("CI") == "true" {
		tb.Fatalf("CI=true, and this test cannot run: %s", reason)
	}
	tb.Skip(reason)
}
