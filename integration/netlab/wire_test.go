package netlab

import (
	"io"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// The wire alone, over in-memory devices: these tests need no root.

// memDev is an in-memory device: what the test puts in in is read by the
// wire, and what the wire writes arrives on out with its time.
type memDev struct {
	in     chan []byte
	out    chan arrival
	closed chan struct{}
	once   sync.Once
}

type arrival struct {
	data []byte
	at   time.Time
}

func newMemDev() *memDev {
	return &memDev{in: make(chan []byte), out: make(chan arrival, 2*queueLen), closed: make(chan struct{})}
}

func (d *memDev) Read(p []byte) (int, error) {
	select {
	case b := <-d.in:
		return copy(p, b), nil
	case <-d.closed:
		return 0, io.EOF
	}
}

func (d *memDev) Write(p []byte) (int, error) {
	d.out <- arrival{append([]byte(nil), p...), time.Now()}
	return len(p), nil
}

func (d *memDev) Close() error {
	d.once.Do(func() { close(d.closed) })
	return nil
}

var (
	addrX = netip.MustParseAddr("198.18.0.10")
	addrY = netip.MustParseAddr("198.18.0.11")
)

// ipv4 returns a minimal IPv4 packet to dst whose one payload byte is seq.
func ipv4(dst netip.Addr, seq byte) []byte {
	p := make([]byte, 21)
	p[0] = 0x45
	copy(p[16:20], dst.AsSlice())
	p[20] = seq
	return p
}

// memWire returns a running wire between x and y and their devices.
func memWire(t *testing.T) (*wire, *memDev, *memDev) {
	w := newWire()
	x, y := newMemDev(), newMemDev()
	w.add("x", addrX, x)
	w.add("y", addrY, y)
	w.start()
	t.Cleanup(func() {
		x.Close()
		y.Close()
		w.stop()
	})
	return w, x, y
}

// TestWireDelaysInOrder: every packet arrives no earlier than its send
// time plus the shortest jittered delay, and in the order sent.
func TestWireDelaysInOrder(t *testing.T) {
	w, x, y := memWire(t)
	const delay = 20 * time.Millisecond
	const jitter = 0.5
	w.set("x", "y", func(l *link) { l.delay, l.jitter = delay, jitter })
	const n = 50
	sent := make([]time.Time, n)
	for i := range n {
		sent[i] = time.Now()
		x.in <- ipv4(addrY, byte(i))
	}
	min := time.Duration(float64(delay) * (1 - jitter))
	for i := range n {
		a := <-y.out
		if seq := int(a.data[20]); seq != i {
			t.Fatalf("arrival %d is packet %d: out of order", i, seq)
		}
		if d := a.at.Sub(sent[i]); d < min {
			t.Errorf("packet %d arrived %v after it was sent, before the shortest delay %v", i, d, min)
		}
	}
	if s := w.byName["x"].out["y"].forwarded.Load(); s != n {
		t.Errorf("forwarded %d, want %d", s, n)
	}
}

// TestWireCutDropsInFlight: a cut drops the packets already on the wire
// too; after the heal packets pass again.
func TestWireCutDropsInFlight(t *testing.T) {
	w, x, y := memWire(t)
	w.set("x", "y", func(l *link) { l.delay = 500 * time.Millisecond })
	for i := range 5 {
		x.in <- ipv4(addrY, byte(i))
	}
	w.set("x", "y", func(l *link) { l.cut = true })
	l := w.byName["x"].out["y"]
	harness.WaitFor(t, 10*time.Second, func() bool { return l.droppedCut.Load() == 5 }, "the 5 packets in flight were not dropped by the cut")
	x.in <- ipv4(addrY, 5) // sent while cut
	harness.WaitFor(t, 10*time.Second, func() bool { return l.droppedCut.Load() == 6 }, "a packet sent while cut was not dropped")
	w.set("x", "y", func(l *link) { l.cut, l.delay = false, 0 })
	x.in <- ipv4(addrY, 6)
	if a := <-y.out; a.data[20] != 6 {
		t.Fatalf("after the heal packet %d arrived, want 6 (0-5 were sent into the cut)", a.data[20])
	}
}

// TestWireDropsStrays: packets that are not IPv4, or not to another lab
// address, go nowhere; the reverse direction is independent.
func TestWireDropsStrays(t *testing.T) {
	_, x, y := memWire(t)
	v6 := ipv4(addrY, 0)
	v6[0] = 0x60
	x.in <- v6
	x.in <- ipv4(netip.MustParseAddr("8.8.8.8"), 1)
	x.in <- ipv4(addrX, 2) // to itself
	x.in <- []byte{0x45, 0}
	x.in <- ipv4(addrY, 3)
	if a := <-y.out; a.data[20] != 3 {
		t.Fatalf("y received packet %d first, want 3: a stray was delivered", a.data[20])
	}
	y.in <- ipv4(addrX, 4)
	if a := <-x.out; a.data[20] != 4 {
		t.Fatalf("x received packet %d, want 4", a.data[20])
	}
	if len(x.out) != 0 || len(y.out) != 0 {
		t.Errorf("more arrivals than sent: x %d, y %d queued", len(x.out), len(y.out))
	}
}

// TestWireQueueBounded: a direction holds at most queueLen packets; the
// rest are dropped and counted, and stop ends the wire with packets still
// waiting.
func TestWireQueueBounded(t *testing.T) {
	w, x, _ := memWire(t)
	w.set("x", "y", func(l *link) { l.delay = time.Hour })
	l := w.byName["x"].out["y"]
	for i := range queueLen + 10 {
		x.in <- ipv4(addrY, byte(i))
	}
	// the first packet may already have left the queue for the timer
	harness.WaitFor(t, 10*time.Second, func() bool { return l.droppedFull.Load() >= 9 }, "a full queue dropped nothing")
	if d := l.droppedFull.Load(); d > 10 {
		t.Errorf("dropped %d packets of %d, the queue holds %d", d, queueLen+10, queueLen)
	}
}
