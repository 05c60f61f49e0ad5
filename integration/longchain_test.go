package integration

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// A chain of n sites has paths of n²/2 names in all. These tests check that
// costlb's memory and its admin view stay proportional to the network.

// chainCaddyfile is a Caddyfile whose network is the chain s0-s1-...-s<n-1>
// seen from s0, with one service whose backends are in s0 and s<n-1>.
func chainCaddyfile(n int, listen string) string {
	network := []string{"site s0"}
	for i := range n - 1 {
		network = append(network, fmt.Sprintf("link s%d s%d", i, i+1))
	}
	return costlbCaddyfile(strings.Join(network, "\n"), costlbRoute(listen, `
		name chain
		backend s0 127.0.0.1:9001
		backend s%d 127.0.0.1:9002`, n-1))
}

// TestLongChainValidate runs the real caddy validate on a 20,000-site
// chain: its paths would hold 2·10⁸ names, over 3 GB, if they were built.
func TestLongChainValidate(t *testing.T) {
	const sites = 20000
	const maxMemory = 300 << 20
	dir := t.TempDir()
	file := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(file, []byte(bcForValidate(chainCaddyfile(sites, bcListen))), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := harness.CaddyCommand(t, dir, "validate", "--config", file, "--adapter", "caddyfile")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// bounded: a validate that runs away is killed, and the test fails
	kill := time.AfterFunc(60*time.Second, func() { _ = cmd.Process.Kill() })
	err := cmd.Wait()
	kill.Stop()
	took := time.Since(start)
	if err != nil {
		t.Fatalf("caddy validate of a %d-site chain: %v after %v\n%s", sites, err, took, bcReadable(out.String()))
	}
	rss, ok := maxRSS(cmd.ProcessState)
	t.Logf("caddy validate of a %d-site chain: %v, peak memory %d MB", sites, took.Round(time.Millisecond), rss>>20)
	if ok && rss > maxMemory {
		t.Errorf("caddy validate of a %d-site chain peaked at %d MB, want under %d MB", sites, rss>>20, maxMemory>>20)
	}
}

// TestLongChainAdminView: GET /costlb/ grows linearly with the chain (the
// path is given for the local site and the backends' sites only), and
// ?paths=all still gives every path.
func TestLongChainAdminView(t *testing.T) {
	const small, large = 1000, 4000
	const maxBytesPerSite = 400 // a site and a link, indented: about 210
	listen := harness.FreeAddr(t)
	c := harness.StartCaddy(t, chainCaddyfile(small, listen), "caddyfile")

	smallSize := chainViewSize(t, c, small)
	checkAllPaths(t, c, small)
	if st, body, err := c.Load([]byte(strings.ReplaceAll(chainCaddyfile(large, listen), harness.AdminPlaceholder, c.AdminAddr())), "text/caddyfile"); err != nil || st != 200 {
		t.Fatalf("loading the %d-site chain: %d %v %s", large, st, err, body)
	}
	largeSize := chainViewSize(t, c, large)
	t.Logf("GET /costlb/: %d sites %d bytes, %d sites %d bytes", small, smallSize, large, largeSize)
	if largeSize > maxBytesPerSite*large {
		t.Errorf("GET /costlb/ for a %d-site chain: %d bytes, want under %d per site", large, largeSize, maxBytesPerSite)
	}
	if ratio := float64(largeSize) / float64(smallSize); ratio > 1.25*large/small {
		t.Errorf("GET /costlb/ grew %.1f times from %d to %d sites: more than in proportion", ratio, small, large)
	}
}

// checkAllPaths checks that GET /costlb/?paths=all gives each of the n
// sites of the chain its whole path.
func checkAllPaths(t *testing.T, c *harness.Caddy, n int) {
	t.Helper()
	status, body, err := c.Get("/costlb/?paths=all")
	if err != nil || status != 200 {
		t.Fatalf("GET /costlb/?paths=all: %d %v", status, err)
	}
	var all lbView
	if err := json.Unmarshal(body, &all); err != nil {
		t.Fatal(err)
	}
	for _, s := range all.Sites {
		if len(s.Path) != s.Hops+1 || s.Path[0] != "s0" || s.Path[s.Hops] != s.Name {
			t.Fatalf("?paths=all: site %s (hops %d) has a path of %d sites", s.Name, s.Hops, len(s.Path))
		}
	}
	if len(all.Sites) != n {
		t.Errorf("?paths=all: %d sites, want %d", len(all.Sites), n)
	}
}

// chainViewSize gets GET /costlb/ of a chain of n sites, checks that every
// site has its path cost and hops and that only s0 and s<n-1> (the backends'
// sites) show a path, and returns the size of the answer.
func chainViewSize(t *testing.T, c *harness.Caddy, n int) int {
	t.Helper()
	status, body, err := c.Get("/costlb/")
	if err != nil || status != 200 {
		t.Fatalf("GET /costlb/: %d %v", status, err)
	}
	var v lbView
	if err := json.Unmarshal(body, &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Sites) != n {
		t.Fatalf("%d sites, want %d", len(v.Sites), n)
	}
	last := fmt.Sprintf("s%d", n-1)
	for _, s := range v.Sites {
		var i int
		if _, err := fmt.Sscanf(s.Name, "s%d", &i); err != nil || s.PathCost != int64(i) || s.Hops != i || !s.Reachable {
			t.Fatalf("site %+v: want path cost and hops = its number, reachable", s)
		}
		wantPath := s.Name == "s0" || s.Name == last
		if hasPath := len(s.Path) > 0; hasPath != wantPath || hasPath && len(s.Path) != i+1 {
			t.Fatalf("site %s shows a path of %d sites; want a path only for s0 and %s, the backends' sites", s.Name, len(s.Path), last)
		}
	}
	return len(body)
}
