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
