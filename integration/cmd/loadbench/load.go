package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// The two loads each target gets: connection churn and bulk throughput.

// opTimeout bounds one connection's dial+echo and a bulk connection's dial.
const opTimeout = 5 * time.Second

// tailGrace is how long churn lets cycles still running at the end of the
// window finish (they are not counted) before it abandons them, so that a
// stalled machine cannot stretch a measurement by opTimeout.
const tailGrace = time.Second

// payloadSize is what a churn connection writes and reads back.
const payloadSize = 64

// closeReset closes c with SO_LINGER 0: a RST instead of a FIN, so the
// client's side leaves no TIME_WAIT socket behind (at 128 concurrent
// clients a churn run would otherwise use up the ephemeral ports).
func closeReset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	_ = c.Close()
}

// churn runs conc clients for window, each repeating: connect, write 64
// bytes, read the 64 bytes echoed, close. It returns the completed cycles per
// second and the percentiles of connect-to-first-echoed-byte latency of the
// cycles that completed within the window.
func (r *runner) churn(ctx context.Context, addr string, conc int, window time.Duration) Sample {
	payload := bytes.Repeat([]byte("0123456789abcdef"), payloadSize/16)
	clients := make([]*churnClient, conc)
	var wg sync.WaitGroup
	start := make(chan struct{})
	var run churnRun
	for w := range conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := newChurnClient()
			<-start
			c.loop(ctx, &run, addr, payload)
			clients[w] = c
		}()
	}
	run.deadline = time.Now().Add(window)
	tailCtx, cancel := context.WithDeadline(ctx, run.deadline.Add(tailGrace))
	run.tailCtx = tailCtx
	defer cancel()
	close(start)
	wg.Wait()
	return churnSample(clients, window)
}

// churnRun is what every client of one churn measurement shares, set
// before they start.
type churnRun struct {
	deadline time.Time       // end of the window
	tailCtx  context.Context // ends tailGrace after it
}

// churnClient is one churning client and what it measured.
type churnClient struct {
	d    net.Dialer
	buf  []byte
	lat  []time.Duration // of the cycles that completed within the window
	errs int64           // failed cycles within the window
	done int64           // completed cycles, also after the window
}

func newChurnClient() *churnClient {
	return &churnClient{d: net.Dialer{Timeout: opTimeout}, buf: make([]byte, payloadSize), lat: make([]time.Duration, 0, 1024)}
}

// loop runs cycles until the window ends (or ctx does).
func (c *churnClient) loop(ctx context.Context, run *churnRun, addr string, payload []byte) {
	for ctx.Err() == nil {
		t0 := time.Now()
		if !t0.Before(run.deadline) {
			break
		}
		conn, err := c.d.DialContext(run.tailCtx, "tcp", addr)
		if err != nil {
			if time.Now().Before(run.deadline) {
				c.errs++
			}
			time.Sleep(time.Millisecond)
			continue
		}
		first, err := c.echo(conn, t0, run.deadline, payload)
		if err != nil {
			if time.Now().Before(run.deadline) {
				c.errs++
			}
			continue
		}
		c.done++
		if time.Now().Before(run.deadline) {
			c.lat = append(c.lat, first.Sub(t0))
		}
	}
}

// echo writes payload on conn, reads it back and closes conn with a reset;
// it returns when the first echoed byte came. The exchange is bounded by
// opTimeout from t0 and by tailGrace after the window's deadline.
func (c *churnClient) echo(conn net.Conn, t0, deadline time.Time, payload []byte) (time.Time, error) {
	opEnd := t0.Add(opTimeout)
	if tail := deadline.Add(tailGrace); tail.Before(opEnd) {
		opEnd = tail
	}
	_ = conn.SetDeadline(opEnd)
	var first time.Time
	_, err := conn.Write(payload)
	if err == nil {
		var n int
		n, err = conn.Read(c.buf)
		first = time.Now()
		if err == nil {
			_, err = io.ReadFull(conn, c.buf[n:])
		}
	}
	closeReset(conn)
	if err == nil && !bytes.Equal(c.buf, payload) {
		err = errors.New("echo mismatch")
	}
	return first, err
}

// churnSample sums the clients' cycles and errors, and takes the latency
// percentiles over all of them.
func churnSample(clients []*churnClient, window time.Duration) Sample {
	var all []time.Duration
	var s Sample
	for _, c := range clients {
		all = append(all, c.lat...)
		s.ConnErrors += c.errs
		s.completed += c.done
	}
	s.ConnPerSec = float64(len(all)) / window.Seconds()
	slices.Sort(all)
	s.P50, s.P99 = percentile(all, 0.50), percentile(all, 0.99)
	return s
}

// bulkChunk is what a bulk client writes per call.
const bulkChunk = 32 << 10

// bulk opens conc long connections; each streams data to the echo backend
// and reads the echo back concurrently. Every stream is established end to
// end (one byte echoed through the proxy) before any of them streams, so
// that the window measures throughput rather than how fast a saturated
// proxy accepts the last streams. After a ramp-up, the echoed bytes
// received during window give the throughput; meanwhile a probe measures
// how long a new connection takes to get its first echo under that load.
func (r *runner) bulk(ctx context.Context, addr string, conc int, window time.Duration) Sample {
	var s Sample
	var total atomic.Int64
	conns := r.openStreams(ctx, addr, conc, &s)
	var stop atomic.Bool
	var wg sync.WaitGroup
	chunk := bytes.Repeat([]byte{'x'}, bulkChunk)
	for _, c := range conns {
		wg.Add(2)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		}()
		go func() {
			defer wg.Done()
			buf := make([]byte, 64<<10)
			for {
				n, err := c.Read(buf)
				total.Add(int64(n))
				if err != nil {
					return
				}
			}
		}()
	}
	sleepCtx(ctx, bulkRamp(window))
	probeCtx, endProbe := context.WithCancel(ctx)
	probed := make(chan []time.Duration, 1)
	go func() { probed <- dialProbe(probeCtx, addr) }()
	b0, t0 := total.Load(), time.Now()
	sleepCtx(ctx, window)
	b1, t1 := total.Load(), time.Now()
	endProbe()
	lat := <-probed
	stop.Store(true)
	for _, c := range conns {
		closeReset(c)
	}
	wg.Wait()
	s.bulkBytes = total.Load()
	if len(conns) > 0 {
		s.MBps = float64(b1-b0) / t1.Sub(t0).Seconds() / 1e6
	}
	s.BulkDialP50, s.BulkDialP99 = percentile(lat, 0.50), percentile(lat, 0.99)
	return s
}

// openStreams dials conc connections and has each echo one byte through
// the proxy, so that each is established up to the backend; a connection
// that fails either step counts as a bulk error and is left out.
func (r *runner) openStreams(ctx context.Context, addr string, conc int, s *Sample) []net.Conn {
	d := net.Dialer{Timeout: opTimeout}
	conns := make([]net.Conn, 0, conc)
	one := []byte{'x'}
	for range conc {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err != nil {
			s.BulkErrors++
			continue
		}
		_ = c.SetDeadline(time.Now().Add(opTimeout))
		if _, err := c.Write(one); err == nil {
			_, err = io.ReadFull(c, make([]byte, 1))
		}
		if err != nil {
			s.BulkErrors++
			closeReset(c)
			continue
		}
		_ = c.SetDeadline(time.Time{})
		conns = append(conns, c)
	}
	return conns
}

// probeGap is the pause between dialProbe's connections: light enough not
// to be a load of its own.
const probeGap = 20 * time.Millisecond

// dialProbe repeats, until ctx ends: connect, write 64 bytes, read them
// echoed, close, then pause probeGap. It returns the sorted
// connect-to-whole-echo latencies of the cycles that completed; a cycle
// that fails or times out (opTimeout) counts as opTimeout, so a proxy that
// stops accepting under load shows it.
func dialProbe(ctx context.Context, addr string) []time.Duration {
	payload := bytes.Repeat([]byte("0123456789abcdef"), payloadSize/16)
	buf := make([]byte, payloadSize)
	d := net.Dialer{Timeout: opTimeout}
	var lat []time.Duration
	for ctx.Err() == nil {
		t0 := time.Now()
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			_ = c.SetDeadline(t0.Add(opTimeout))
			stop := context.AfterFunc(ctx, func() { _ = c.SetDeadline(time.Now()) })
			if _, err = c.Write(payload); err == nil {
				_, err = io.ReadFull(c, buf)
			}
			stop()
			closeReset(c)
		}
		switch {
		case err == nil:
			lat = append(lat, time.Since(t0))
		case ctx.Err() == nil:
			lat = append(lat, opTimeout)
		}
		sleepCtx(ctx, probeGap)
	}
	slices.Sort(lat)
	return lat
}

// bulkRamp is how long bulk streams run before the window opens: as long
// as the window, up to a second, so that the window measures streams at
// their pace. In 100 ms slices of the first second at 128 streams, HAProxy
// moved 950–1,100 MB/s from the first slice on, while every Go proxy
// (costlb's two engines and the bare Go proxy) climbed from 150–600 MB/s
// to its pace over 0.3–1 s; a window that began 200 ms in measured mostly
// that climb. The climb is not garbage collection (gctrace: no cycle after
// the first 0.4 s of Caddy's life); its cause is not known.
func bulkRamp(window time.Duration) time.Duration {
	return min(max(window, 50*time.Millisecond), time.Second)
}

// percentile returns the nearest-rank percentile of sorted samples.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(p*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// median returns the median of xs (0 for none).
func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	sort.Float64s(s)
	if n := len(s); n%2 == 1 {
		return s[n/2]
	} else {
		return (s[n/2-1] + s[n/2]) / 2
	}
}
