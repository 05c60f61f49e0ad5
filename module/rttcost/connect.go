package rttcost

import (
	"context"
	"net"
	"sync/atomic"
	"syscall"
	"time"
)

// ConnectTimer times TCP connects: set Control as a net.Dialer's
// ControlContext, which runs just before the socket's connect, and after
// the dial Elapsed is the time the connect took, without name resolution.
// On Linux a TCP connect takes one round trip (SYN, SYN-ACK). If the
// dialer tries several addresses, the last one's connect counts.
type ConnectTimer struct{ start atomic.Int64 }

// Control records the start of a connect; its signature is a
// net.Dialer's ControlContext.
func (t *ConnectTimer) Control(context.Context, string, string, syscall.RawConn) error {
	t.start.Store(time.Now().UnixNano())
	return nil
}

// Elapsed returns the time since the last connect started, or -1 if none
// did.
func (t *ConnectTimer) Elapsed() time.Duration {
	s := t.start.Load()
	if s == 0 {
		return -1
	}
	return time.Duration(time.Now().UnixNano() - s)
}

// Connect opens a TCP connection to addr within timeout, closes it at once
// and returns the time the connect took: a light probe of the round trip
// to a host, which sends nothing and leaves nothing open.
func Connect(ctx context.Context, network, addr string, timeout time.Duration) (time.Duration, error) {
	var t ConnectTimer
	d := net.Dialer{Timeout: timeout, KeepAlive: -1, ControlContext: t.Control}
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return 0, err
	}
	rtt := t.Elapsed()
	_ = c.Close()
	return rtt, nil
}
