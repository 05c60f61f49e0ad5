package integration

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/costlb/costlb/integration/harness"
)

// requirePromtool returns the path of promtool (Debian's package
// prometheus ships it). Without it the test is skipped, except under
// CI=true, where it fails: CI installs it (.ci/run).
func requirePromtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("promtool not found (%v): CI installs it with apt-get install prometheus", err)
		}
		t.Skipf("promtool not found (%v): apt-get install prometheus to run this test", err)
	}
	return p
}

// TestPrometheusRules runs examples/prometheus's rule unit tests with
// promtool, and checks that every costlb metric the rules read is one a
// real Caddy exposes on /metrics, with the labels the rules use.
func TestPrometheusRules(t *testing.T) {
	promtool := requirePromtool(t)
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "examples", "prometheus")
	for _, args := range [][]string{{"check", "rules", "rules.yml"}, {"test", "rules", "rules_test.yml"}} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = dir
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "SUCCESS") {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}

	// a Caddy with every kind of costlb metric: a plain backend, a
	// gateway (never ready: its status address answers nothing)
	rules, err := os.ReadFile(filepath.Join(dir, "rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	east := harness.StartBackend(t, "east")
	listen, gw, status := harness.FreeAddr(t), harness.FreeAddr(t), harness.FreeAddr(t)
	c := harness.StartCaddy(t, costlbCaddyfile("site east\nlink east b 1", costlbRoute(listen, `
		name web
		backend east %s
		%s
		health_interval 100ms
		health_timeout 100ms`, east.Addr(), gatewayBackend("b", gw, harness.FreeAddr(t), "web")))+statusSite(status), "caddyfile")
	harness.WaitFor(t, pageTimeout, func() bool {
		_, ok := metricValues(t, c, "caddy_costlb_gateway_ready")[fmt.Sprintf(`caddy_costlb_gateway_ready{service="web",upstream=%q}`, gw)]
		return ok
	}, "the gateway's readiness in /metrics")
	_, body, err := c.Get("/metrics")
	if err != nil {
		t.Fatal(err)
	}
	exposed := map[string][]string{} // metric name: its label names
	for _, m := range regexp.MustCompile(`(?m)^(caddy_costlb_\w+)\{([^}]*)\}`).FindAllStringSubmatch(string(body), -1) {
		var labels []string
		for _, kv := range strings.Split(m[2], ",") {
			labels = append(labels, strings.SplitN(kv, "=", 2)[0])
		}
		exposed[m[1]] = labels
	}
	used := regexp.MustCompile(`caddy_costlb_\w+`).FindAllString(string(rules), -1)
	if len(used) == 0 {
		t.Fatal("rules.yml reads no costlb metric")
	}
	for _, name := range used {
		if _, ok := exposed[name]; !ok {
			t.Errorf("rules.yml reads %s, which Caddy does not expose", name)
		}
	}
	// the labels the rules group by or name in their annotations
	for _, x := range []struct{ metric, label string }{
		{"caddy_costlb_bytes_total", "direction"}, {"caddy_costlb_bytes_total", "upstream"},
		{"caddy_costlb_failed_dials_total", "upstream"}, {"caddy_costlb_gateway_ready", "upstream"},
		{"caddy_costlb_backend_healthy", "upstream"}, {"caddy_costlb_no_backend_total", "service"},
		{"caddy_costlb_failovers_total", "service"},
	} {
		if !slices.Contains(exposed[x.metric], x.label) {
			t.Errorf("%s has labels %v: the rules use %q", x.metric, exposed[x.metric], x.label)
		}
	}
}

// TestPrometheusExample follows examples/prometheus/README.md literally.
func TestPrometheusExample(t *testing.T) {
	requirePromtool(t)
	runReadme(t, "prometheus")
}
