package integration

// runReadme runs an example's README.md as readme_parse_test.go describes.

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

const (
	// readmeStepTimeout bounds one command of a README.
	readmeStepTimeout = 30 * time.Second
	// readmeStopTimeout bounds one "caddy stop" of the cleanup.
	readmeStopTimeout = 10 * time.Second
)

var (
	// the ports an example's configs name (its listeners, admin endpoints
	// and the addresses one site polls at another)
	examplePortRe = regexp.MustCompile(`(?:127\.0\.0\.1|localhost)?:(\d{4,5})\b`)
	// an example config's admin address
	exampleAdminRe = regexp.MustCompile(`(?m)^\s*admin (localhost:\d+)$|"listen": "(localhost:\d+)"`)
)

// runReadme follows examples/<name>/README.md literally, in a copy of the
// example's directory: see runReadmeIn.
func runReadme(t *testing.T, name string) {
	runReadmeIn(t, filepath.Join("examples", name, "README.md"), filepath.Join("examples", name), name)
}

// runReadmeIn follows the README at readme (a path from the repository's
// root) literally, in dir (likewise), in a temporary copy of the examples
// it names with ../../caddy linked; it fails the test at the first command
// whose output or exit status is not what the README shows. It refuses to
// start if a port of those examples is in use, and stops every Caddy of
// theirs and every process the README started when the test ends, however
// it ends.
func runReadmeIn(t *testing.T, readmePath, dir string, examples ...string) {
	root, err := harness.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	name := readmePath
	readme, err := os.ReadFile(filepath.Join(root, readmePath))
	if err != nil {
		t.Fatal(err)
	}
	steps, err := parseReadme(string(readme))
	if err != nil {
		t.Fatalf("%s: %v", readmePath, err)
	}
	if len(steps) == 0 {
		t.Fatalf("%s has no ```sh commands to follow", readmePath)
	}
	var ports []int
	var admins []string
	for _, ex := range examples {
		p, a := examplePorts(t, filepath.Join(root, "examples", ex))
		ports, admins = append(ports, p...), append(admins, a...)
	}
	for _, p := range ports {
		ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
		if err != nil {
			t.Fatalf("%s uses port %d, which is in use (%v): stop what listens there (an example's Caddy left running? `caddy stop --address localhost:<admin port>`) and run the test again", readmePath, p, err)
		}
		ln.Close()
	}

	bin := harness.CaddyBinary(t)
	tmp := t.TempDir()
	for _, ex := range examples {
		if err := os.CopyFS(filepath.Join(tmp, "examples", ex), os.DirFS(filepath.Join(root, "examples", ex))); err != nil {
			t.Fatal(err)
		}
	}
	dir = filepath.Join(tmp, dir)
	if err := os.Symlink(bin, filepath.Join(tmp, "caddy")); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(tmp, "out")
	if err := os.Mkdir(out, 0o755); err != nil {
		t.Fatal(err)
	}

	sh := exec.Command("bash", "--noprofile", "--norc")
	sh.Dir = dir
	sh.Env = append(os.Environ(), "HOME="+filepath.Join(tmp, "home"), "XDG_CONFIG_HOME="+filepath.Join(tmp, "config"),
		"XDG_DATA_HOME="+filepath.Join(tmp, "data"), "XDG_CACHE_HOME="+filepath.Join(tmp, "cache"))
	sh.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var shErr bytes.Buffer
	sh.Stderr = &shErr
	stdin, err := sh.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := sh.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.Start(); err != nil {
		t.Fatalf("starting bash: %v", err)
	}
	exited := make(chan struct{})
	go func() { _ = sh.Wait(); close(exited) }()
	t.Cleanup(func() {
		stdin.Close()
		stopExample(t, bin, admins)
		// then whatever the README left behind: bash and its children are
		// one process group
		_ = syscall.Kill(-sh.Process.Pid, syscall.SIGKILL)
		<-exited
		if t.Failed() && shErr.Len() > 0 {
			t.Logf("bash stderr:\n%s", shErr.String())
		}
	})

	done := make(chan [2]int, 1) // step number, exit status
	var scanErr error
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			var n, rc int
			if _, err := fmt.Sscanf(sc.Text(), "readme-step %d %d", &n, &rc); err == nil {
				done <- [2]int{n, rc}
			}
		}
		scanErr = fmt.Errorf("bash ended: %v", sc.Err())
		close(done)
	}()

	start := time.Now()
	for i, s := range steps {
		file := filepath.Join(out, strconv.Itoa(i))
		script := fmt.Sprintf("{\n%s\n} >%q 2>&1 </dev/null; printf 'readme-step %d %%d\\n' $?\n", s.command, file, i)
		if _, err := io.WriteString(stdin, script); err != nil {
			t.Fatalf("%s:%d: writing to bash: %v", name, s.line, err)
		}
		began := time.Now()
		var res [2]int
		var ok bool
		select {
		case res, ok = <-done:
		case <-time.After(readmeStepTimeout):
			output, _ := os.ReadFile(file)
			t.Fatalf("%s:%d: %s\nstill running after %v; output so far:\n%s", name, s.line, s.command, readmeStepTimeout, output)
		}
		if !ok || res[0] != i {
			t.Fatalf("%s:%d: %s\nbash did not finish the command (%v); stderr:\n%s", name, s.line, s.command, scanErr, shErr.String())
		}
		output, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s:%d (%v): %s", name, s.line, time.Since(began).Round(time.Millisecond), strings.TrimSpace(s.command))
		if why := s.check(string(output), res[1]); why != "" {
			t.Fatalf("%s:%d: %s\n%s\nits whole output:\n%s", name, s.line, s.command, why, output)
		}
	}
	t.Logf("%s: %d commands in %v", name, len(steps), time.Since(start).Round(time.Millisecond))

	// the README stops what it starts
	for _, a := range admins {
		harness.WaitFor(t, 5*time.Second, func() bool {
			conn, err := net.DialTimeout("tcp", a, time.Second)
			if err == nil {
				conn.Close()
			}
			return err != nil
		}, fmt.Sprintf("%s ends with the Caddy of admin %s still running", name, a))
	}
}

// examplePorts returns the ports an example's configs name, and its admin
// addresses.
func examplePorts(t *testing.T, dir string) (ports []int, admins []string) {
	t.Helper()
	configs, _ := filepath.Glob(filepath.Join(dir, "*Caddyfile"))
	jsons, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	seen := map[int]bool{}
	for _, f := range append(configs, jsons...) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range examplePortRe.FindAllSubmatch(b, -1) {
			p, _ := strconv.Atoi(string(m[1]))
			if !seen[p] {
				seen[p] = true
				ports = append(ports, p)
			}
		}
		for _, m := range exampleAdminRe.FindAllSubmatch(b, -1) {
			a := string(m[1]) + string(m[2])
			if !slices.Contains(admins, a) {
				admins = append(admins, a)
			}
		}
	}
	sort.Ints(ports)
	if len(admins) == 0 {
		t.Fatalf("%s: no admin address in its configs", dir)
	}
	return ports, admins
}

// stopExample stops, through its admin endpoint, every Caddy of the
// example that still runs.
func stopExample(t *testing.T, bin string, admins []string) {
	for _, a := range admins {
		conn, err := net.DialTimeout("tcp", a, time.Second)
		if err != nil {
			continue
		}
		conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), readmeStopTimeout)
		out, err := exec.CommandContext(ctx, bin, "stop", "--address", a).CombinedOutput()
		cancel()
		if err != nil {
			t.Errorf("cleanup: caddy stop --address %s: %v\n%s", a, err, out)
		}
	}
}
