package harness

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// caddyEnv is the environment of a caddy process whose HOME and XDG
// directories are below dir, so it writes nothing outside it.
func caddyEnv(tb testing.TB, dir string) []string {
	tb.Helper()
	env := os.Environ()
	for _, kv := range [][2]string{
		{"HOME", "home"},
		{"XDG_CONFIG_HOME", "config"},
		{"XDG_DATA_HOME", "data"},
		{"XDG_CACHE_HOME", "cache"},
	} {
		d := filepath.Join(dir, kv[1])
		if err := os.MkdirAll(d, 0o755); err != nil {
			tb.Fatalf("caddy environment: %v", err)
		}
		env = append(env, kv[0]+"="+d)
	}
	return env
}

// CaddyCommand returns a command that runs the test Caddy with args in
// dir, with HOME and the XDG directories below dir.
func CaddyCommand(tb testing.TB, dir string, args ...string) *exec.Cmd {
	tb.Helper()
	cmd := exec.Command(CaddyBinary(tb), args...)
	cmd.Dir = dir
	cmd.Env = caddyEnv(tb, dir)
	return cmd
}

// RunCaddy runs a one-shot caddy command (validate, adapt, ...) in dir and
// returns its stdout, stderr and exit code. It fails the test only if the
// command could not run at all.
func RunCaddy(tb testing.TB, dir string, args ...string) (stdout, stderr string, code int) {
	tb.Helper()
	cmd := CaddyCommand(tb, dir, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		tb.Fatalf("running caddy %v: %v", args, err)
	}
	return o.String(), e.String(), code
}
