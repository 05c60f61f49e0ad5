package integration

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/costlb/costlb/integration/harness"
)

// Config errors of the data path's options, refused by caddy validate with
// the offending value and what is allowed.
func TestBadConfigDataPath(t *testing.T) {
	cases := []struct {
		badConfig
		adapter string
	}{
		{badConfig{name: "dial_timeout 0", config: bcCaddyfileH(bcBackend + "\n\t\tdial_timeout 0"),
			want: []string{`dial_timeout "0"`, "must be a positive duration"}}, "caddyfile"},
		{badConfig{name: "silent closes without fail_duration", config: bcCaddyfileH(bcBackend + "\n\t\tfail_on_silent_close 2s"),
			want: []string{"fail_on_silent_close needs fail_duration"}}, "caddyfile"},
		{badConfig{name: "max_silent_closes alone", config: bcCaddyfileH(bcBackend + "\n\t\tmax_silent_closes 3"),
			want: []string{"max_silent_closes 3 without fail_on_silent_close"}}, "caddyfile"},
		{badConfig{name: "udp backend", config: bcCaddyfileH("backend east udp/127.0.0.1:9001"),
			want: []string{`network "udp" is not supported`, "tcp, tcp4, tcp6 or unix"}}, "caddyfile"},
		{badConfig{name: "JSON dial_timeout 0", config: bcJSONH(bcJSONBackends + `, "dial_timeout": "0s"`),
			want: []string{"dial_timeout 0s", "must be positive"}}, "json"},
		{badConfig{name: "JSON dial_timeout negative", config: bcJSONH(bcJSONBackends + `, "dial_timeout": "-2s"`),
			want: []string{"dial_timeout -2s", "must be positive"}}, "json"},
		{badConfig{name: "JSON fail_on_silent_close negative", config: bcJSONH(bcJSONBackends + `, "fail_on_silent_close": "-1s", "health_checks": {"passive": {"fail_duration": "5s"}}`),
			want: []string{"fail_on_silent_close -1s", "must be positive"}}, "json"},
		{badConfig{name: "JSON max_silent_closes negative", config: bcJSONH(bcJSONBackends + `, "fail_on_silent_close": "1s", "max_silent_closes": -1, "health_checks": {"passive": {"fail_duration": "5s"}}`),
			want: []string{"max_silent_closes -1", "1 or more"}}, "json"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			name, args := "caddy.json", []string{}
			if c.adapter == "caddyfile" {
				name, args = "Caddyfile", []string{"--adapter", "caddyfile"}
			}
			file := filepath.Join(dir, name)
			if err := os.WriteFile(file, []byte(bcForValidate(c.config)), 0o644); err != nil {
				t.Fatal(err)
			}
			stdout, stderr, code := harness.RunCaddy(t, dir, append([]string{"validate", "--config", file}, args...)...)
			raw := stdout + stderr
			bcCheckRefusal(t, c.badConfig, code == 0, raw, bcReadable(raw))
		})
	}
}
