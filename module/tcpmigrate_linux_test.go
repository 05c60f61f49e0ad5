package module

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// TestTCPMigrateWarning: the setting off or missing gets one warning that
// names it (and, when off, the command that turns it on); on gets none.
func TestTCPMigrateWarning(t *testing.T) {
	dir := t.TempDir()
	write := func(name, v string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name, path string
		want       []string // in the warning; nil: no warning
	}{
		{"off", write("off", "0\n"), []string{"net.ipv4.tcp_migrate_req", "it is 0", "sysctl -w net.ipv4.tcp_migrate_req=1"}},
		{"on", write("on", "1\n"), nil},
		{"missing", filepath.Join(dir, "none"), []string{"net.ipv4.tcp_migrate_req", "Linux 5.14"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			core, logs := observer.New(zap.InfoLevel)
			logTCPMigrate(zap.New(core), tc.path)
			entries := logs.All()
			if tc.want == nil {
				if len(entries) != 0 {
					t.Fatalf("logged %v, want nothing", entries)
				}
				return
			}
			if len(entries) != 1 || entries[0].Level != zap.WarnLevel {
				t.Fatalf("logged %v, want one warning", entries)
			}
			var text strings.Builder
			text.WriteString(entries[0].Message)
			for k, v := range entries[0].ContextMap() {
				text.WriteString(" " + k + "=" + v.(string))
			}
			for _, w := range tc.want {
				if !strings.Contains(text.String(), w) {
					t.Errorf("warning %q lacks %q", text.String(), w)
				}
			}
		})
	}
}
