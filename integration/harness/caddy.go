package harness

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// AdminPlaceholder is replaced, in configs given to StartCaddy and
// Caddy.Load, by the Caddy's admin address ("127.0.0.1:<port>"). A Caddyfile
// uses it as "admin {ADMIN}" in its global options; a JSON config as
// "admin": {"listen": "{ADMIN}"}.
const AdminPlaceholder = "{ADMIN}"

const (
	// startTimeout bounds how long StartCaddy waits for the admin endpoint
	// and the initial configuration.
	startTimeout = 30 * time.Second
	// stopGrace is how long Stop waits after SIGINT before killing.
	stopGrace = 5 * time.Second
	// adminTimeout bounds one admin API request.
	adminTimeout = 30 * time.Second
	// readyLog is what "caddy run" logs once its initial config is running.
	readyLog = "serving initial configuration"
)

// Caddy is a running Caddy process started by StartCaddy. Its methods are
// safe for concurrent use.
type Caddy struct {
	tb     testing.TB
	cmd    *exec.Cmd
	admin  string // 127.0.0.1:port
	dir    string // temporary directory holding config, HOME and XDG dirs
	client *http.Client

	logs *syncBuffer
	done chan struct{} // closed when the process has exited
	err  error         // exit status, set before done is closed

	stopOnce sync.Once
}

// StartCaddy writes config to a temporary file and runs
// "caddy run --config F --adapter A" with it. adapter is "caddyfile" or
// "json". Every AdminPlaceholder ("{ADMIN}") in config is replaced by a free
// 127.0.0.1 admin address, so the config must put it in its admin setting.
// HOME, XDG_CONFIG_HOME, XDG_DATA_HOME and XDG_CACHE_HOME point into a
// temporary directory. It returns once the admin endpoint answers
// GET /config/ and Caddy has logged that it serves the config, and it
// registers a Cleanup that stops the process (SIGINT, then SIGKILL after 5 s)
// and, if the test failed, logs Caddy's output. It fails the test if Caddy
// exits or is not ready within 30 s. Options (WithCommandPrefix,
// WithAdminHost) run it elsewhere, such as in a network namespace.
func StartCaddy(tb testing.TB, config string, adapter string, opts ...CaddyOption) *Caddy {
	tb.Helper()
	bin := CaddyBinary(tb)
	var o caddyOptions
	for _, opt := range opts {
		opt(&o)
	}

	var file string
	args := []string{"run"}
	switch adapter {
	case "caddyfile":
		file = "Caddyfile"
		args = append(args, "--adapter", "caddyfile")
	case "json", "":
		// Caddy has no "json" adapter: JSON is its native format.
		file = "caddy.json"
	default:
		tb.Fatalf("StartCaddy: unknown adapter %q (want caddyfile or json)", adapter)
	}

	dir := tb.TempDir()
	admin := FreeAddr(tb)
	if o.adminHost != "" {
		admin = net.JoinHostPort(o.adminHost, strconv.Itoa(FreePort(tb)))
	}
	cfgPath := filepath.Join(dir, file)
	if err := os.WriteFile(cfgPath, []byte(strings.ReplaceAll(config, AdminPlaceholder, admin)), 0o644); err != nil {
		tb.Fatalf("StartCaddy: writing config: %v", err)
	}
	args = append(args, "--config", cfgPath)

	env := caddyEnv(tb, dir)

	c := &Caddy{
		tb:     tb,
		admin:  admin,
		dir:    dir,
		client: &http.Client{Timeout: adminTimeout, Transport: &http.Transport{DisableKeepAlives: true}},
		logs:   &syncBuffer{},
		done:   make(chan struct{}),
	}
	cmd := exec.Command(bin, args...)
	if len(o.prefix) > 0 {
		cmd = exec.Command(o.prefix[0], append(append(o.prefix[1:len(o.prefix):len(o.prefix)], bin), args...)...)
	}
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = c.logs
	cmd.Stderr = c.logs
	cmd.SysProcAttr = childProcAttr()
	// If the process is gone but something still holds its output pipes,
	// do not let Wait block forever.
	cmd.WaitDelay = stopGrace
	c.cmd = cmd
	if err := cmd.Start(); err != nil {
		tb.Fatalf("StartCaddy: starting %s: %v", bin, err)
	}
	go func() {
		c.err = cmd.Wait()
		close(c.done)
	}()
	tb.Cleanup(func() {
		c.Stop()
		if tb.Failed() {
			tb.Logf("caddy (pid %d) output:\n%s", cmd.Process.Pid, c.Logs())
		}
	})

	deadline := time.Now().Add(startTimeout)
	for {
		select {
		case <-c.done:
			tb.Fatalf("StartCaddy: caddy exited before it was ready (%v); output:\n%s", c.err, c.Logs())
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("StartCaddy: caddy not ready after %v; output:\n%s", startTimeout, c.Logs())
		}
		if status, _, err := c.Get("/config/"); err == nil && status == http.StatusOK &&
			strings.Contains(c.Logs(), readyLog) {
			return c
		}
		time.Sleep(25 * time.Millisecond)
	}
}

// AdminURL returns the base URL of the admin API, "http://127.0.0.1:<port>"
// (or the host WithAdminHost gave).
func (c *Caddy) AdminURL() string { return "http://" + c.admin }

// AdminAddr returns the admin address, "127.0.0.1:<port>" (or the host
// WithAdminHost gave).
func (c *Caddy) AdminAddr() string { return c.admin }

// Get sends GET path (e.g. "/config/") to the admin API and returns the
// status and body. Caddy restarts its admin server on every config load,
// so a GET that meets that moment (connection refused, reset or closed
// under a write) is retried
// a few times; a GET changes nothing, so retrying is safe.
func (c *Caddy) Get(path string) (status int, body []byte, err error) {
	for try := 0; ; try++ {
		req, rerr := http.NewRequest(http.MethodGet, c.AdminURL()+path, nil)
		if rerr != nil {
			return 0, nil, rerr
		}
		status, body, err = c.do(req)
		if err == nil || try == 4 || !isRestartErr(err) {
			return status, body, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// isRestartErr reports errors of a connection that met the admin server
// while it restarted. Caddy shuts the old admin server down in a goroutine
// after a load, even a failed one, so a request can connect to the old
// server and then find it closed: refused, reset, EOF, or a write onto the
// closed socket (EPIPE, "broken pipe").
func isRestartErr(err error) bool {
	return errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF)
}

// Load POSTs config to the admin API's /load, replacing the running config;
// contentType is "text/caddyfile" for a Caddyfile or "application/json" for
// JSON. Every AdminPlaceholder in config is replaced by this Caddy's admin
// address first. Caddy answers once the new config runs (status 200) or was
// refused (an error status, the old config still running). After a 200,
// Load also waits for the old config's listeners to close (WaitReloaded).
//
// A load that meets the admin server while it restarts after the previous
// load (connection refused or reset) is sent again, a few times: loading a
// config that is already running changes nothing, so retrying is safe.
func (c *Caddy) Load(config []byte, contentType string) (status int, body []byte, err error) {
	config = bytes.ReplaceAll(config, []byte(AdminPlaceholder), []byte(c.admin))
	for try := 0; ; try++ {
		req, rerr := http.NewRequest(http.MethodPost, c.AdminURL()+"/load", bytes.NewReader(config))
		if rerr != nil {
			return 0, nil, rerr
		}
		req.Header.Set("Content-Type", contentType)
		status, body, err = c.do(req)
		if err == nil && status == http.StatusOK {
			err = c.WaitReloaded()
		}
		if err == nil || try == 4 || !isRestartErr(err) {
			return status, body, err
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *Caddy) do(req *http.Request) (int, []byte, error) {
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, body, err
}

// Delete sends DELETE path (under /config/, which reloads the config) to
// the admin API and, if it succeeded, waits for the reload to finish.
func (c *Caddy) Delete(path string) (status int, body []byte, err error) {
	req, err := http.NewRequest(http.MethodDelete, c.AdminURL()+path, nil)
	if err != nil {
		return 0, nil, err
	}
	status, body, err = c.do(req)
	if err == nil && status == http.StatusOK {
		err = c.WaitReloaded()
	}
	return status, body, err
}

// WaitReloaded waits until the previous config's listeners are closed:
// until Caddy holds no two listening sockets on one address. Caddy's admin
// API answers a reload before the old config's servers have closed their
// listeners (see duplicateListener); a connection made in that moment can
// be reset by Caddy itself. Load and Delete call it; it returns an error
// if the old listeners are still open after adminTimeout.
func (c *Caddy) WaitReloaded() error {
	deadline := time.Now().Add(adminTimeout)
	for {
		addr, err := duplicateListener(c.PID())
		if err != nil || addr == "" {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the reload has not finished after %v: two listeners on %s", adminTimeout, addr)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// Logs returns everything Caddy has written to stdout and stderr so far.
func (c *Caddy) Logs() string { return c.logs.String() }

// WaitLog waits until Caddy's output contains substr, and returns an error
// if it does not within timeout or the process exits first.
func (c *Caddy) WaitLog(substr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if strings.Contains(c.Logs(), substr) {
			return nil
		}
		select {
		case <-c.done:
			if strings.Contains(c.Logs(), substr) {
				return nil
			}
			return fmt.Errorf("caddy exited (%v) before logging %q", c.err, substr)
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("caddy did not log %q within %v", substr, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// PID returns the Caddy process id.
func (c *Caddy) PID() int { return c.cmd.Process.Pid }

// Exited reports whether the Caddy process has exited.
func (c *Caddy) Exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// Done returns a channel closed when the Caddy process has exited.
func (c *Caddy) Done() <-chan struct{} { return c.done }

// ExitErr returns the process's exit status as exec.Cmd.Wait reported it
// (nil for a clean exit); it is meaningful only once Done is closed.
func (c *Caddy) ExitErr() error {
	<-c.done
	return c.err
}

// Stop ends Caddy gracefully: SIGINT, then SIGKILL if it has not exited
// after 5 s. It returns once the process has exited; later calls do nothing.
func (c *Caddy) Stop() {
	c.stopOnce.Do(func() {
		if c.Exited() {
			return
		}
		_ = c.cmd.Process.Signal(syscall.SIGINT)
		select {
		case <-c.done:
			return
		case <-time.After(stopGrace):
		}
		c.tb.Logf("caddy (pid %d) still running %v after SIGINT: killing it", c.PID(), stopGrace)
		_ = c.cmd.Process.Kill()
		<-c.done
	})
}

// Kill ends Caddy at once with SIGKILL (a crash) and returns once it has
// exited. Stop after Kill does nothing.
func (c *Caddy) Kill() {
	c.stopOnce.Do(func() {
		if !c.Exited() {
			_ = c.cmd.Process.Kill()
		}
		<-c.done
	})
}

// syncBuffer is a bytes.Buffer safe for concurrent writes and reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Patch sends PATCH path (under /config/, which reloads the config) with
// the JSON body to the admin API and, if it succeeded, waits for the
// reload to finish.
func (c *Caddy) Patch(path string, body []byte) (status int, respBody []byte, err error) {
	req, err := http.NewRequest(http.MethodPatch, c.AdminURL()+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	status, respBody, err = c.do(req)
	if err == nil && status == http.StatusOK {
		err = c.WaitReloaded()
	}
	return status, respBody, err
}
