package harness

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// ModulePath is the module whose root ModuleRoot looks for.
const ModulePath = "github.com/costlb/costlb"

// CaddyEnv names the environment variable that, when set, gives the path of a
// prebuilt Caddy binary for CaddyBinary to use instead of building one.
const CaddyEnv = "COSTLB_CADDY"

// buildTimeout bounds the one "go build" of the test Caddy (cold, it takes
// about 90 s on a 2-core machine).
const buildTimeout = 15 * time.Minute

var (
	buildOnce sync.Once
	buildPath string
	buildOut  []byte
	buildErr  error
)

// ModuleRoot returns the root directory of the github.com/costlb/costlb
// module, found by walking up from the current directory to a go.mod that
// declares that module.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		data, err := os.ReadFile(filepath.Join(dir, "go.mod"))
		if err == nil && declaresModule(data, ModulePath) {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod for module %s above the current directory", ModulePath)
		}
		dir = parent
	}
}

func declaresModule(gomod []byte, path string) bool {
	for _, line := range strings.Split(string(gomod), "\n") {
		f := strings.Fields(line)
		if len(f) >= 2 && f[0] == "module" && strings.Trim(f[1], `"`) == path {
			return true
		}
	}
	return false
}

// BuildCaddy builds ./integration/cmd/caddy once per process into a temporary
// directory and returns the binary's path, or the error and the combined
// output of "go build". Later calls return the first call's result.
// RemoveBuiltCaddy deletes the binary.
func BuildCaddy() (path string, output []byte, err error) {
	buildOnce.Do(func() {
		root, err := ModuleRoot()
		if err != nil {
			buildErr = err
			return
		}
		dir, err := os.MkdirTemp("", "costlb-caddy-")
		if err != nil {
			buildErr = err
			return
		}
		out := filepath.Join(dir, "caddy")
		ctx, cancel := context.WithTimeout(context.Background(), buildTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, "go", "build", "-o", out, "./integration/cmd/caddy")
		cmd.Dir = root
		var buf bytes.Buffer
		cmd.Stdout = &buf
		cmd.Stderr = &buf
		if err := cmd.Run(); err != nil {
			_ = os.RemoveAll(dir)
			buildErr = fmt.Errorf("go build ./integration/cmd/caddy in %s: %w", root, err)
			buildOut = buf.Bytes()
			return
		}
		buildPath = out
		buildOut = buf.Bytes()
	})
	return buildPath, buildOut, buildErr
}

// RemoveBuiltCaddy deletes the binary BuildCaddy built, if any. Call it from
// TestMain after m.Run; it does nothing when $COSTLB_CADDY was used.
func RemoveBuiltCaddy() {
	if buildPath != "" {
		_ = os.RemoveAll(filepath.Dir(buildPath))
	}
}

// CaddyBinary returns the Caddy binary to test: $COSTLB_CADDY if set (it must
// exist), else the one BuildCaddy builds from this tree, once per test
// process. It fails the test, with the build output, if neither works.
func CaddyBinary(tb testing.TB) string {
	tb.Helper()
	if p := os.Getenv(CaddyEnv); p != "" {
		abs, err := filepath.Abs(p)
		if err != nil {
			tb.Fatalf("%s=%q: %v", CaddyEnv, p, err)
		}
		st, err := os.Stat(abs)
		if err != nil {
			tb.Fatalf("%s=%q: %v", CaddyEnv, p, err)
		}
		if st.IsDir() || st.Mode()&0o111 == 0 {
			tb.Fatalf("%s=%q is not an executable file", CaddyEnv, p)
		}
		return abs
	}
	path, out, err := BuildCaddy()
	if err != nil {
		tb.Fatalf("building the test caddy: %v\n%s", err, out)
	}
	if path == "" {
		tb.Fatal(errors.New("building the test caddy: no binary"))
	}
	return path
}
