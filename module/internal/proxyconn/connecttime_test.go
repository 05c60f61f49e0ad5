package proxyconn

import (
	"net"
	"testing"
	"time"
)

// TestDialConnectTime: every successful dial gives its connect time, a
// failed one none, and a unix socket backend none.
func TestDialConnectTime(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var got []time.Duration
	sink := func(d time.Duration) { got = append(got, d) }
	d, err := NewDialer(Target{Network: "tcp", Addr: ln.Addr().String(), Host: "127.0.0.1", Timeout: time.Second, ConnectTime: sink})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 3; i++ {
		c, err := d.Dial(testClient{}, time.Time{})
		if err != nil {
			t.Fatal(err)
		}
		_ = c.Close()
	}
	if len(got) != 3 {
		t.Fatalf("%d connect times for 3 dials", len(got))
	}
	for _, rtt := range got {
		if rtt < 0 || rtt > time.Second {
			t.Errorf("connect time on loopback %v", rtt)
		}
	}

	// a refused dial gives no sample
	addr := ln.Addr().String()
	_ = ln.Close()
	refused, err := NewDialer(Target{Network: "tcp", Addr: addr, Host: "127.0.0.1", Timeout: time.Second, ConnectTime: sink})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := refused.Dial(testClient{}, time.Time{}); err == nil {
		t.Fatal("a dial to a closed port succeeded")
	}
	if len(got) != 3 {
		t.Fatalf("a refused dial gave a connect time: %v", got)
	}

	u, err := NewDialer(Target{Network: "unix", Addr: "/nonexistent", ConnectTime: sink})
	if err != nil {
		t.Fatal(err)
	}
	if u.connectTime != nil {
		t.Fatal("a unix socket backend takes connect times")
	}
}
