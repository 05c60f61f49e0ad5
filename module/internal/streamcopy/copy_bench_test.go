package streamcopy

import (
	"io"
	"net"
	"sync/atomic"
	"testing"
)

// pairMaker makes connected loopback TCP pairs from one listener.
type pairMaker struct {
	ln  net.Listener
	acc chan net.Conn
}

func newPairMaker(b *testing.B) *pairMaker {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	m := &pairMaker{ln: ln, acc: make(chan net.Conn, 1)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				close(m.acc)
				return
			}
			m.acc <- c
		}
	}()
	b.Cleanup(func() { _ = ln.Close() })
	return m
}

// pair returns the two ends of a new connection.
func (m *pairMaker) pair(b *testing.B) (net.Conn, net.Conn) {
	a, err := net.Dial("tcp", m.ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	return a, <-m.acc
}

// BenchmarkSessionChurn is one short proxied connection per iteration, as
// the layer4 handler's churn: 64 bytes to the backend, echoed back, the
// client closes, the backend closes in turn.
func BenchmarkSessionChurn(b *testing.B) {
	m := newPairMaker(b)
	msg := make([]byte, 64)
	buf := make([]byte, 64)
	b.ReportAllocs()
	for b.Loop() {
		client, down := m.pair(b)
		up, backend := m.pair(b)
		done := make(chan Result, 1)
		go func() { done <- NewSession(NewLeg(down), NewLeg(up)).Run(nil) }()
		if _, err := client.Write(msg); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(backend, buf); err != nil {
			b.Fatal(err)
		}
		if _, err := backend.Write(buf); err != nil {
			b.Fatal(err)
		}
		if _, err := io.ReadFull(client, buf); err != nil {
			b.Fatal(err)
		}
		_ = client.Close()
		_, _ = io.Copy(io.Discard, backend)
		_ = backend.Close()
		<-done
		_ = down.Close() // the session half-closes; the handler closes
		_ = up.Close()
	}
}

// BenchmarkSessionBulk moves 4 MiB from client to backend per iteration
// through one session (spliced between plain sockets on Linux).
func BenchmarkSessionBulk(b *testing.B) { benchBulk(b, nil) }

// BenchmarkSessionBulkCounted is BenchmarkSessionBulk with the bytes
// counted as they move (Leg.Counting), as the layer4 handler counts them
// for the history and the metrics.
func BenchmarkSessionBulkCounted(b *testing.B) { benchBulk(b, new(atomic.Uint64)) }

// benchBulk moves 4 MiB per iteration, counting them on count if it is
// not nil.
func benchBulk(b *testing.B, count *atomic.Uint64) {
	m := newPairMaker(b)
	client, down := m.pair(b)
	up, backend := m.pair(b)
	done := make(chan Result, 1)
	upLeg := NewLeg(up)
	if count != nil {
		upLeg = upLeg.Counting(count)
	}
	go func() { done <- NewSession(NewLeg(down), upLeg).Run(nil) }()
	const chunk = 4 << 20
	data := make([]byte, chunk)
	sink := make([]byte, chunk)
	b.SetBytes(chunk)
	b.ReportAllocs()
	for b.Loop() {
		errc := make(chan error, 1)
		go func() { _, err := client.Write(data); errc <- err }()
		if _, err := io.ReadFull(backend, sink); err != nil {
			b.Fatal(err)
		}
		if err := <-errc; err != nil {
			b.Fatal(err)
		}
	}
	_ = client.Close()
	_ = backend.Close()
	<-done
	_ = down.Close()
	_ = up.Close()
	if count != nil && count.Load() != uint64(b.N)*chunk {
		b.Fatalf("counted %d bytes, moved %d", count.Load(), uint64(b.N)*chunk)
	}
}
