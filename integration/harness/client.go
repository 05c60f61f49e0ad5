package harness

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"time"
)

// echoTimeout bounds one EchoCheck.
const echoTimeout = 10 * time.Second

// maxGreeting bounds the greeting line Hold reads.
const maxGreeting = 4096

// Hold connects to addr (a backend, or a proxy in front of backends), reads
// the greeting line, which is the name of the backend the connection reached,
// and returns that name and the still-open connection, which the caller must
// close. Connecting and reading the greeting must finish within timeout; the
// returned conn has no deadline set.
func Hold(addr string, timeout time.Duration) (name string, conn net.Conn, err error) {
	deadline := time.Now().Add(timeout)
	conn, err = net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return "", nil, err
	}
	name, err = readGreeting(conn, deadline)
	if err != nil {
		_ = conn.Close()
		return "", nil, fmt.Errorf("reading greeting from %s: %w", addr, err)
	}
	return name, conn, nil
}

// readGreeting reads one "\n"-terminated line a byte at a time, so that no
// byte after it is consumed, and clears the deadline afterwards.
func readGreeting(conn net.Conn, deadline time.Time) (string, error) {
	if err := conn.SetReadDeadline(deadline); err != nil {
		return "", err
	}
	var line []byte
	b := make([]byte, 1)
	for {
		n, err := conn.Read(b)
		if n == 1 {
			if b[0] == '\n' {
				break
			}
			line = append(line, b[0])
			if len(line) > maxGreeting {
				return "", errors.New("greeting line too long")
			}
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				return "", fmt.Errorf("connection closed after %q: %w", line, io.ErrUnexpectedEOF)
			}
			return "", err
		}
	}
	if err := conn.SetReadDeadline(time.Time{}); err != nil {
		return "", err
	}
	return strings.TrimSuffix(string(line), "\r"), nil
}

// Once connects to addr, reads the greeting line (the name of the backend
// reached), closes the connection and returns the name; all within timeout.
func Once(addr string, timeout time.Duration) (name string, err error) {
	name, conn, err := Hold(addr, timeout)
	if err != nil {
		return "", err
	}
	return name, conn.Close()
}

// EchoCheck writes payload to conn and reads the same bytes back, within
// 10 s, returning an error if the connection fails or the bytes differ. It
// writes and reads concurrently, so payloads larger than the socket buffers
// do not deadlock. It clears conn's deadlines afterwards.
func EchoCheck(conn net.Conn, payload []byte) error {
	if err := conn.SetDeadline(time.Now().Add(echoTimeout)); err != nil {
		return err
	}
	defer conn.SetDeadline(time.Time{})
	werr := make(chan error, 1)
	go func() {
		_, err := conn.Write(payload)
		werr <- err
	}()
	got := make([]byte, len(payload))
	n, rerr := io.ReadFull(conn, got)
	if err := <-werr; err != nil {
		return fmt.Errorf("echo: write: %w", err)
	}
	if rerr != nil {
		return fmt.Errorf("echo: read %d of %d bytes: %w", n, len(payload), rerr)
	}
	if !bytes.Equal(got, payload) {
		return fmt.Errorf("echo: %d bytes came back different", len(payload))
	}
	return nil
}
