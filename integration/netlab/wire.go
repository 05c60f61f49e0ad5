package netlab

import (
	"io"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// queueLen bounds the packets in flight on one direction of a pair; a
// packet that finds its queue full is dropped, as a router's full buffer
// would drop it.
const queueLen = 4096

// maxPacket is the largest IP packet a TUN device hands over.
const maxPacket = 65535

// wire moves IPv4 packets between the lab's devices. Each end has one
// reader goroutine; each direction of each pair has a queue and a
// goroutine that delivers the queue's packets in order, each at its due
// time.
type wire struct {
	ends   map[netip.Addr]*end
	byName map[string]*end
	done   chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
}

// end is one site's (or the test process's) device on the wire.
type end struct {
	name string
	addr netip.Addr
	dev  io.ReadWriteCloser
	out  map[string]*link // by destination site
}

// link is one direction of a pair of ends.
type link struct {
	to *end

	mu     sync.Mutex
	delay  time.Duration // one way
	jitter float64       // each packet's delay is delay × (1 ± up to jitter)
	cut    bool
	last   time.Time // the latest due time handed out: keeps packets in order

	q chan packet

	forwarded atomic.Uint64
	droppedCut,
	droppedFull atomic.Uint64
}

type packet struct {
	data []byte
	due  time.Time
}

func newWire() *wire {
	return &wire{
		ends:   map[netip.Addr]*end{},
		byName: map[string]*end{},
		done:   make(chan struct{}),
	}
}

// add puts a device on the wire. Every add must come before start.
func (w *wire) add(name string, addr netip.Addr, dev io.ReadWriteCloser) {
	e := &end{name: name, addr: addr, dev: dev, out: map[string]*link{}}
	for _, o := range w.byName {
		e.out[o.name] = &link{to: o, q: make(chan packet, queueLen)}
		o.out[name] = &link{to: e, q: make(chan packet, queueLen)}
	}
	w.ends[addr] = e
	w.byName[name] = e
}

// start runs the readers and the delivering goroutines.
func (w *wire) start() {
	for _, e := range w.byName {
		w.wg.Add(1)
		go w.read(e)
		for _, l := range e.out {
			w.wg.Add(1)
			go w.deliver(l)
		}
	}
}

// read forwards every IPv4 packet e's device hands over to the end that
// owns its destination address; anything else (IPv6, other destinations)
// goes nowhere.
func (w *wire) read(e *end) {
	defer w.wg.Done()
	buf := make([]byte, maxPacket)
	for {
		n, err := e.dev.Read(buf)
		if err != nil {
			return // the device was closed
		}
		p := buf[:n]
		if n < 20 || p[0]>>4 != 4 {
			continue
		}
		to := w.ends[netip.AddrFrom4([4]byte(p[16:20]))]
		if to == nil || to == e {
			continue
		}
		e.out[to.name].send(p)
	}
}

// send queues a copy of p for delivery after the link's delay, or drops it
// if the link is cut or its queue is full.
func (l *link) send(p []byte) {
	now := time.Now()
	l.mu.Lock()
	if l.cut {
		l.mu.Unlock()
		l.droppedCut.Add(1)
		return
	}
	d := l.delay
	if l.jitter > 0 && d > 0 {
		d = time.Duration(float64(d) * (1 + l.jitter*(2*rand.Float64()-1)))
	}
	due := now.Add(d)
	if due.Before(l.last) {
		due = l.last // never overtake an earlier packet
	}
	l.last = due
	l.mu.Unlock()
	select {
	case l.q <- packet{data: slices.Clone(p), due: due}:
	default:
		l.droppedFull.Add(1)
	}
}

// deliver writes the link's packets to its destination device, each at
// its due time, dropping those that fall due while the link is cut.
func (w *wire) deliver(l *link) {
	defer w.wg.Done()
	t := time.NewTimer(time.Hour)
	t.Stop()
	for {
		var p packet
		select {
		case <-w.done:
			return
		case p = <-l.q:
		}
		if d := time.Until(p.due); d > 0 {
			t.Reset(d)
			select {
			case <-w.done:
				t.Stop()
				return
			case <-t.C:
			}
		}
		l.mu.Lock()
		cut := l.cut
		l.mu.Unlock()
		if cut {
			l.droppedCut.Add(1)
			continue
		}
		if _, err := l.to.dev.Write(p.data); err != nil {
			continue // a closing device, or a packet the kernel refused
		}
		l.forwarded.Add(1)
	}
}

// set changes both directions between a and b.
func (w *wire) set(a, b string, f func(l *link)) {
	for _, l := range []*link{w.byName[a].out[b], w.byName[b].out[a]} {
		l.mu.Lock()
		f(l)
		l.mu.Unlock()
	}
}

// stop ends every goroutine of the wire; the devices must be closed
// (which ends the readers) before or after, by the caller.
func (w *wire) stop() {
	w.once.Do(func() { close(w.done) })
	w.wg.Wait()
}
