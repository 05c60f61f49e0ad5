package history

import (
	"fmt"
	"runtime"
	"testing"
	"time"
	"unsafe"
)

// TestMemoryPerBackend checks that a backend's series take what
// BackendBytes says, plus their bookkeeping, and that the store's heap
// does not grow once every ring has wrapped: the memory is fixed when a
// backend is first seen.
func TestMemoryPerBackend(t *testing.T) {
	if n := unsafe.Sizeof(backendSeries{}); n < BackendBytes || n > BackendBytes+128 {
		t.Errorf("backendSeries is %d bytes, BackendBytes %d", n, BackendBytes)
	}
	if n := unsafe.Sizeof(serviceSeries{}); n < ServiceBytes || n > ServiceBytes+128 {
		t.Errorf("serviceSeries is %d bytes, ServiceBytes %d", n, ServiceBytes)
	}
	const services, perService = 10, 20
	svcs := make([]ServiceSample, services)
	heap := func() uint64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return m.HeapAlloc
	}
	before := heap()
	s := NewStore(time.Second)
	for i := range svcs {
		svcs[i].Name = fmt.Sprintf("svc-%d", i)
		for j := range perService {
			addr := fmt.Sprintf("10.0.%d.%d:443", i, j)
			s.Hold(svcs[i].Name, addr)
			svcs[i].Backends = append(svcs[i].Backends, BackendSample{Site: "site", Address: addr, Live: int64(j), Opened: uint64(j), Healthy: true})
		}
	}
	s.Sample(time.Now(), svcs)
	first := heap()
	for range Length + 10 {
		s.Sample(time.Now(), svcs)
	}
	wrapped := heap()
	per := float64(first-before) / (services * perService)
	t.Logf("heap per backend (series, maps, names, counts; services' own series shared out): %.0f bytes; BackendBytes %d; after %d samples: %+d bytes in all",
		per, BackendBytes, Length+10, int64(wrapped)-int64(first))
	if per > 2*BackendBytes {
		t.Errorf("%.0f bytes per backend, more than twice BackendBytes", per)
	}
	if wrapped > first+64<<10 {
		t.Errorf("the heap grew by %d bytes once the rings wrapped", wrapped-first)
	}
	runtime.KeepAlive(s)
}
