package harness

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"time"
)

// newHTTPClient returns a client whose every request has its own
// connection, so a held request never blocks another.
func newHTTPClient() *http.Client {
	return &http.Client{Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}
}

// readLine reads one "\n"-terminated line from r, without the "\n".
func readLine(r *bufio.Reader) (string, error) {
	line, err := r.ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("after %q: %w", line, err)
	}
	return strings.TrimSuffix(line, "\n"), nil
}

// HeldRequest is a request whose answer is still open.
type HeldRequest struct {
	body   io.ReadCloser
	cancel context.CancelFunc
}

// Close ends the request.
func (h *HeldRequest) Close() error {
	h.cancel()
	return h.body.Close()
}

// HoldHTTP sends GET url (an HTTPBackend's /hold, or a proxy in front of
// some) and reads the first line of the answer, the name of the backend
// reached, within timeout. It returns the name and the request, still in
// flight until Close or the backend's Release.
func HoldHTTP(url string, timeout time.Duration) (name string, held *HeldRequest, err error) {
	ctx, cancel := context.WithCancel(context.Background())
	timer := time.AfterFunc(timeout, cancel)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		cancel()
		return "", nil, err
	}
	resp, err := newHTTPClient().Do(req)
	if err != nil {
		cancel()
		return "", nil, err
	}
	name, err = readLine(bufio.NewReaderSize(resp.Body, 64))
	timer.Stop()
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d, first line %q", resp.StatusCode, name)
	}
	if err != nil {
		cancel()
		resp.Body.Close()
		return "", nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return name, &HeldRequest{body: resp.Body, cancel: cancel}, nil
}

// GetHTTP sends GET url and returns the status and the first line of the
// body (the name of the backend that answered), within timeout.
func GetHTTP(url string, timeout time.Duration) (status int, name string, err error) {
	client := newHTTPClient()
	client.Timeout = timeout
	resp, err := client.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	name, _, _ = strings.Cut(string(b), "\n")
	return resp.StatusCode, name, err
}

// WebSocket opens a WebSocket to path on addr (a proxy in front of
// HTTPBackends), within timeout, and returns the name of the backend that
// switched protocols and the open connection, which echoes what is sent.
func WebSocket(addr, path string, timeout time.Duration) (name string, conn net.Conn, err error) {
	conn, err = net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return "", nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(timeout))
	key := make([]byte, 16)
	_, _ = rand.Read(key)
	fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: %s\r\n\r\n",
		path, addr, base64.StdEncoding.EncodeToString(key))
	br := bufio.NewReaderSize(conn, 1) // read no byte past the name line
	resp, err := http.ReadResponse(br, nil)
	if err == nil && resp.StatusCode != http.StatusSwitchingProtocols {
		err = fmt.Errorf("handshake answered %s", resp.Status)
	}
	if err == nil {
		name, err = readLine(br)
	}
	if err == nil && br.Buffered() > 0 {
		err = fmt.Errorf("%d unexpected bytes after the name", br.Buffered())
	}
	if err != nil {
		conn.Close()
		return "", nil, fmt.Errorf("websocket to %s%s: %w", addr, path, err)
	}
	_ = conn.SetDeadline(time.Time{})
	return name, conn, nil
}

// SlowUpload is a POST whose body is sent a chunk at a time until Finish.
type SlowUpload struct {
	sent   atomic.Int64
	stop   chan struct{}
	writer chan struct{} // closed when the body is complete
	answer chan uploadAnswer
}

type uploadAnswer struct {
	body string
	err  error
}

// StartSlowUpload POSTs to url (an HTTPBackend's /upload, or a proxy in
// front of some) a body of chunk bytes every interval, until Finish.
func StartSlowUpload(url string, chunk int, every time.Duration) *SlowUpload {
	u := &SlowUpload{stop: make(chan struct{}), writer: make(chan struct{}), answer: make(chan uploadAnswer, 1)}
	pr, pw := io.Pipe()
	go func() {
		defer close(u.writer)
		buf := make([]byte, chunk)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			if _, err := pw.Write(buf); err != nil {
				return
			}
			u.sent.Add(int64(chunk))
			select {
			case <-u.stop:
				_ = pw.Close()
				return
			case <-tick.C:
			}
		}
	}()
	go func() {
		resp, err := newHTTPClient().Post(url, "application/octet-stream", pr)
		if err != nil {
			_ = pr.CloseWithError(err)
			u.answer <- uploadAnswer{err: err}
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("status %d: %s", resp.StatusCode, b)
		}
		u.answer <- uploadAnswer{body: string(b), err: err}
	}()
	return u
}

// Sent returns how many body bytes were sent so far.
func (u *SlowUpload) Sent() int64 { return u.sent.Load() }

// Finish ends the body and returns, within timeout, the name of the backend
// that answered and the number of bytes it says it read.
func (u *SlowUpload) Finish(timeout time.Duration) (name string, n int64, err error) {
	close(u.stop)
	<-u.writer
	select {
	case a := <-u.answer:
		if a.err != nil {
			return "", 0, a.err
		}
		if _, err := fmt.Sscanf(a.body, "%s\n%d\n", &name, &n); err != nil {
			return "", 0, fmt.Errorf("upload answer %q: %v", a.body, err)
		}
		return name, n, nil
	case <-time.After(timeout):
		return "", 0, fmt.Errorf("no answer to the upload within %v", timeout)
	}
}

// Finish waits, within timeout, for the rest of the answer (the backend
// released the request) and reports an error unless it ends cleanly.
func (h *HeldRequest) Finish(timeout time.Duration) error {
	timer := time.AfterFunc(timeout, h.cancel)
	defer timer.Stop()
	_, err := io.Copy(io.Discard, h.body)
	h.body.Close()
	if err != nil {
		return fmt.Errorf("held request: %w", err)
	}
	return nil
}
