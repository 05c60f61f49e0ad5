// Package browser drives a headless Chromium for costlb's integration tests:
// it loads a page, evaluates JavaScript in it to read the rendered DOM, and
// takes screenshots. It speaks the Chrome DevTools Protocol over the pipe
// that Chromium opens with --remote-debugging-pipe (JSON messages ended by a
// NUL byte on file descriptors 3 and 4), so it needs nothing but the
// standard library and a Chromium binary.
//
// Every call is bounded in time, and Close (registered on the test's
// Cleanup by Start) ends the browser and every process it started.
package browser

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// Env names the environment variable that, when set, gives the Chromium
// binary to use instead of looking up "chromium" in PATH.
const Env = "COSTLB_CHROMIUM"

// callTimeout bounds one DevTools command.
const callTimeout = 30 * time.Second

// closeGrace is how long Close waits for Chromium to exit after
// Browser.close before it kills the process group.
const closeGrace = 5 * time.Second

// Find returns the Chromium binary: $COSTLB_CHROMIUM, else the first of
// chromium, chromium-browser, google-chrome found in PATH.
func Find() (string, error) {
	if p := os.Getenv(Env); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", errors.New("no chromium in PATH (install it: apt-get install -y chromium; or set " + Env + ")")
}

// Require returns the Chromium binary. When there is none it fails the test
// if the environment variable CI is "true" (CI must run the browser tests),
// and skips it otherwise.
func Require(tb testing.TB) string {
	tb.Helper()
	p, err := Find()
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		tb.Fatalf("CI=true but the browser test cannot run: %v (.ci/run installs it)", err)
	}
	tb.Skipf("skipping the browser test: %v", err)
	return ""
}

// Browser is a running headless Chromium with one page (tab) attached.
// Its methods are safe for concurrent use.
type Browser struct {
	cmd     *exec.Cmd
	out     *os.File // our end of Chromium's fd 3: commands
	session string   // the page's DevTools session

	mu      sync.Mutex
	nextID  int
	pending map[int]chan reply
	readErr error

	done      chan struct{} // closed when the reader stops (Chromium gone)
	exited    chan struct{} // closed when the process has exited
	closeOnce sync.Once
	stderr    *strings.Builder
	stderrMu  sync.Mutex
}

type reply struct {
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

// Start runs Chromium headless (as root too: --no-sandbox) with a fresh
// profile in a temporary directory, opens a blank page and registers Close
// on tb.Cleanup. The page's viewport is width x height CSS pixels.
func Start(tb testing.TB, bin string, width, height int) *Browser {
	tb.Helper()
	b, err := start(bin, tb.TempDir(), width, height)
	if err != nil {
		tb.Fatalf("starting chromium: %v", err)
	}
	tb.Cleanup(b.Close)
	return b
}

func start(bin, profile string, width, height int) (*Browser, error) {
	cmdR, cmdW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	resR, resW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	b := &Browser{
		out: cmdW, pending: map[int]chan reply{},
		done: make(chan struct{}), exited: make(chan struct{}), stderr: &strings.Builder{},
	}
	b.cmd = exec.Command(bin,
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-extensions", "--disable-dev-shm-usage", "--hide-scrollbars", "--mute-audio",
		"--remote-debugging-pipe", "--user-data-dir="+profile,
		fmt.Sprintf("--window-size=%d,%d", width, height), "about:blank")
	b.cmd.ExtraFiles = []*os.File{cmdR, resW} // fds 3 and 4 in Chromium
	b.cmd.Stderr = writerFunc(func(p []byte) (int, error) {
		b.stderrMu.Lock()
		defer b.stderrMu.Unlock()
		if b.stderr.Len() < 64<<10 {
			b.stderr.Write(p)
		}
		return len(p), nil
	})
	b.cmd.SysProcAttr = procAttr()
	if err := b.cmd.Start(); err != nil {
		cmdR.Close()
		cmdW.Close()
		resR.Close()
		resW.Close()
		return nil, err
	}
	cmdR.Close()
	resW.Close()
	go func() {
		_ = b.cmd.Wait()
		close(b.exited)
	}()
	go b.read(resR)

	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call("", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		b.Close()
		return nil, fmt.Errorf("%v; chromium's output:\n%s", err, b.Stderr())
	}
	var att struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call("", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &att); err != nil {
		b.Close()
		return nil, err
	}
	b.session = att.SessionID
	if err := b.SetViewport(width, height, false); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }

// read dispatches Chromium's replies to the waiting calls; events are
// dropped.
func (b *Browser) read(f *os.File) {
	defer f.Close()
	r := bufio.NewReaderSize(f, 1<<20)
	var err error
	for {
		var msg []byte
		msg, err = r.ReadBytes(0)
		if err != nil {
			break
		}
		var m struct {
			ID int `json:"id"`
			reply
		}
		if json.Unmarshal(msg[:len(msg)-1], &m) != nil || m.ID == 0 {
			continue
		}
		b.mu.Lock()
		ch := b.pending[m.ID]
		delete(b.pending, m.ID)
		b.mu.Unlock()
		if ch != nil {
			ch <- m.reply
		}
	}
	b.mu.Lock()
	b.readErr = fmt.Errorf("chromium closed the DevTools pipe: %v", err)
	b.mu.Unlock()
	close(b.done)
}

// call sends one DevTools command (to the page when session is set) and
// decodes its result into result (if not nil).
func (b *Browser) call(session, method string, params any, result any) error {
	b.mu.Lock()
	if b.readErr != nil {
		err := b.readErr
		b.mu.Unlock()
		return err
	}
	b.nextID++
	id := b.nextID
	ch := make(chan reply, 1)
	b.pending[id] = ch
	msg := map[string]any{"id": id, "method": method, "params": params}
	if session != "" {
		msg["sessionId"] = session
	}
	data, err := json.Marshal(msg)
	if err == nil {
		_, err = b.out.Write(append(data, 0))
	}
	b.mu.Unlock()
	if err != nil {
		return fmt.Errorf("%s: %v", method, err)
	}
	timer := time.NewTimer(callTimeout)
	defer timer.Stop()
	select {
	case rep := <-ch:
		if rep.Error != nil {
			return fmt.Errorf("%s: %s (code %d)", method, rep.Error.Message, rep.Error.Code)
		}
		if result != nil {
			return json.Unmarshal(rep.Result, result)
		}
		return nil
	case <-b.done:
		b.mu.Lock()
		defer b.mu.Unlock()
		return fmt.Errorf("%s: %v", method, b.readErr)
	case <-timer.C:
		b.mu.Lock()
		delete(b.pending, id)
		b.mu.Unlock()
		return fmt.Errorf("%s: no answer within %v", method, callTimeout)
	}
}

// Call sends a DevTools command to the page and decodes its result into
// result (if not nil): any command the helpers below do not cover.
func (b *Browser) Call(method string, params any, result any) error {
	return b.call(b.session, method, params, result)
}

// Navigate loads url in the page and waits, up to timeout, until its
// document has loaded (readyState "complete").
func (b *Browser) Navigate(url string, timeout time.Duration) error {
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	if err := b.Call("Page.navigate", map[string]any{"url": url}, &nav); err != nil {
		return err
	}
	if nav.ErrorText != "" {
		return fmt.Errorf("loading %s: %s", url, nav.ErrorText)
	}
	deadline := time.Now().Add(timeout)
	for {
		var state string
		if err := b.Eval(`document.readyState`, &state); err == nil && state == "complete" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not loaded within %v", url, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Eval evaluates the JavaScript expression expr in the page (awaiting it if
// it is a promise) and decodes its value, which must be JSON-serialisable,
// into out (if not nil). A thrown exception is returned as an error.
func (b *Browser) Eval(expr string, out any) error {
	var res struct {
		Result struct {
			Value json.RawMessage `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text      string `json:"text"`
			Exception struct {
				Description string `json:"description"`
			} `json:"exception"`
		} `json:"exceptionDetails"`
	}
	err := b.Call("Runtime.evaluate", map[string]any{"expression": expr, "returnByValue": true, "awaitPromise": true}, &res)
	if err != nil {
		return err
	}
	if e := res.ExceptionDetails; e != nil {
		return fmt.Errorf("javascript: %s %s", e.Text, e.Exception.Description)
	}
	if out == nil {
		return nil
	}
	if len(res.Result.Value) == 0 {
		return errors.New("javascript: the expression has no JSON value")
	}
	return json.Unmarshal(res.Result.Value, out)
}

// SetViewport sets the page's viewport to width x height CSS pixels;
// mobile emulates a phone (meta viewport honoured, touch-sized scrollbars).
func (b *Browser) SetViewport(width, height int, mobile bool) error {
	return b.Call("Emulation.setDeviceMetricsOverride", map[string]any{
		"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile,
	}, nil)
}

// Screenshot returns a PNG of the page's viewport.
func (b *Browser) Screenshot() ([]byte, error) {
	var shot struct {
		Data string `json:"data"`
	}
	if err := b.Call("Page.captureScreenshot", map[string]any{"format": "png"}, &shot); err != nil {
		return nil, err
	}
	return base64.StdEncoding.DecodeString(shot.Data)
}

// Stderr returns what Chromium has written to its stderr so far (the first
// 64 KiB).
func (b *Browser) Stderr() string {
	b.stderrMu.Lock()
	defer b.stderrMu.Unlock()
	return b.stderr.String()
}

// Close asks Chromium to exit, waits up to 5 s, then kills its process
// group. Later calls do nothing.
func (b *Browser) Close() {
	b.closeOnce.Do(func() {
		go func() { _ = b.call("", "Browser.close", map[string]any{}, nil) }()
		select {
		case <-b.exited:
		case <-time.After(closeGrace):
		}
		killGroup(b.cmd)
		<-b.exited
		b.out.Close()
	})
}
