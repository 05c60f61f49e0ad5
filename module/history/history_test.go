package history

import (
	"testing"
	"time"
)

func ready(b bool) *bool { return &b }

func TestSampleRatesAndWrap(t *testing.T) {
	s := NewStore(time.Second)
	c := s.Hold("web", "10.0.0.1:80")
	r := s.Hold("web", "")
	t0 := time.Unix(1000, 0)
	var opened uint64
	for i := range Length + 10 {
		opened += uint64(i % 3)
		c.AddBytes(int64(i), 2*int64(i))
		c.FailedDials.Add(1)
		r.Refused.Add(uint64(i % 2))
		s.Sample(t0.Add(time.Duration(i)*time.Second), []ServiceSample{{Name: "web", Backends: []BackendSample{
			{Site: "a", Address: "10.0.0.1:80", Live: int64(i), Opened: opened, Healthy: true},
		}}})
	}
	d := s.Snapshot(Query{})
	if len(d.Services) != 1 || len(d.Services[0].Backends) != 1 {
		t.Fatalf("snapshot: %+v", d)
	}
	sv, b := d.Services[0], d.Services[0].Backends[0]
	if len(sv.Live) != Length || len(b.ToClient) != Length {
		t.Fatalf("series lengths %d, %d; want %d", len(sv.Live), len(b.ToClient), Length)
	}
	// the oldest sample kept is number 10: the first ten ran out
	for k := range Length {
		i := k + 10
		if b.Live[k] != int32(i) || sv.Live[k] != int32(i) {
			t.Fatalf("live[%d] = %d (service %d), want %d", k, b.Live[k], sv.Live[k], i)
		}
		if b.ToBackend[k] != int64(i) || b.ToClient[k] != 2*int64(i) || b.FailedDials[k] != 1 {
			t.Fatalf("sample %d: to_backend %d to_client %d failed %d", i, b.ToBackend[k], b.ToClient[k], b.FailedDials[k])
		}
		if b.New[k] != int32(i%3) || sv.New[k] != int32(i%3) || sv.Refused[k] != int32(i%2) {
			t.Fatalf("sample %d: new %d (service %d) refused %d", i, b.New[k], sv.New[k], sv.Refused[k])
		}
	}
	if d.Last == nil || !d.Last.Equal(t0.Add((Length+9)*time.Second)) || d.IntervalMS != 1000 {
		t.Fatalf("last %v interval %d", d.Last, d.IntervalMS)
	}
}

func TestFirstSampleCountsAllSinceHeld(t *testing.T) {
	s := NewStore(time.Second)
	c := s.Hold("web", "b:1")
	c.AddBytes(500, 700)
	s.Sample(time.Now(), []ServiceSample{{Name: "web", Backends: []BackendSample{{Address: "b:1", Opened: 40, Healthy: true}}}})
	c.AddBytes(5, 7)
	s.Sample(time.Now(), []ServiceSample{{Name: "web", Backends: []BackendSample{{Address: "b:1", Opened: 41, Healthy: true}}}})
	// a reload restarts the per-config total: it counts from 0
	s.Sample(time.Now(), []ServiceSample{{Name: "web", Backends: []BackendSample{{Address: "b:1", Opened: 2, Healthy: true}}}})
	b := s.Snapshot(Query{}).Services[0].Backends[0]
	if got := b.ToBackend; len(got) != 3 || got[0] != 500 || got[1] != 5 || got[2] != 0 {
		t.Errorf("to_backend %v, want [500 5 0]", got)
	}
	if got := b.New; got[0] != 40 || got[1] != 1 || got[2] != 2 {
		t.Errorf("new %v, want [40 1 2]", got)
	}
	if n := len(s.Snapshot(Query{}).Events); n != 0 {
		t.Errorf("%d events for a healthy backend", n)
	}
}

func TestDownWhenFirstSeen(t *testing.T) {
	s := NewStore(time.Second)
	s.Sample(time.Now(), []ServiceSample{{Name: "web", Backends: []BackendSample{
		{Address: "a:1", Healthy: false, Reason: "refused"}, {Address: "g:1", Healthy: true, Ready: ready(false), Reason: "503"}}}})
	ev := s.Snapshot(Query{}).Events
	if len(ev) != 2 || ev[0].Kind != KindBackendDown || ev[0].Reason != "refused" || ev[1].Kind != KindGatewayNotReady || ev[1].Reason != "503" {
		t.Errorf("events %+v, want a:1 down and g:1 not ready", ev)
	}
}

func TestEventsFromChanges(t *testing.T) {
	s := NewStore(time.Second)
	sample := func(healthy bool, rdy bool, reason string) {
		s.Sample(time.Now(), []ServiceSample{{Name: "web", Backends: []BackendSample{
			{Site: "a", Address: "a:1", Healthy: healthy, Reason: reason},
			{Site: "g", Address: "g:1", Healthy: true, Ready: ready(rdy), Reason: reason},
		}}})
	}
	sample(true, true, "")
	sample(true, true, "")
	if n := len(s.Snapshot(Query{}).Events); n != 0 {
		t.Fatalf("%d events with nothing changed", n)
	}
	sample(false, false, "dial tcp: connection refused")
	sample(true, true, "")
	ev := s.Snapshot(Query{}).Events
	want := []string{KindBackendDown, KindGatewayNotReady, KindBackendUp, KindGatewayReady}
	if len(ev) != len(want) {
		t.Fatalf("events %+v", ev)
	}
	got := map[string]Event{}
	for _, e := range ev {
		got[e.Kind] = e
	}
	for _, k := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("no %s event in %+v", k, ev)
		}
	}
	if e := got[KindBackendDown]; e.Backend != "a:1" || e.Reason != "dial tcp: connection refused" {
		t.Errorf("backend_down %+v", e)
	}
	if e := got[KindGatewayNotReady]; e.Backend != "g:1" || e.Site != "g" || e.Reason == "" {
		t.Errorf("gateway_not_ready %+v", e)
	}
}

func TestEventsKeepTheLast(t *testing.T) {
	s := NewStore(time.Second)
	for i := range MaxEvents + 5 {
		s.Add(Event{Kind: KindFailover, Service: "web", From: "a", To: string(rune('a' + i%26)), Time: time.Unix(int64(i), 0)})
	}
	ev := s.Snapshot(Query{}).Events
	if len(ev) != MaxEvents || ev[0].Time.Unix() != 5 || ev[MaxEvents-1].Time.Unix() != MaxEvents+4 {
		t.Fatalf("%d events, first at %d, last at %d", len(ev), ev[0].Time.Unix(), ev[len(ev)-1].Time.Unix())
	}
	s.Add(Event{Kind: KindFailback, Service: "web"})
	if n := s.ShiftsOf("web"); n.Failovers != MaxEvents+5 || n.Failbacks != 1 {
		t.Errorf("shifts of web %+v, want %d failovers and 1 failback: they outlive the ring", n, MaxEvents+5)
	}
}

func TestConfiguredReloadAndCostChange(t *testing.T) {
	s := NewStore(time.Second)
	s.Configured(time.Now(), []Link{{Between: [2]string{"a", "b"}, Cost: 1}, {Between: [2]string{"b", "c"}, Cost: 4}})
	if n := len(s.Snapshot(Query{}).Events); n != 0 {
		t.Fatalf("the first config made %d events", n)
	}
	s.Configured(time.Now(), []Link{{Between: [2]string{"b", "a"}, Cost: 7}, {Between: [2]string{"b", "c"}, Cost: 4}, {Between: [2]string{"c", "d"}, Cost: 2}})
	ev := s.Snapshot(Query{}).Events
	if len(ev) != 2 || ev[0].Kind != KindReload || ev[1].Kind != KindCostChange {
		t.Fatalf("events %+v", ev)
	}
	if e := ev[1]; e.From != "1" || e.To != "7" || len(e.Link) != 2 || e.Link[0] != "a" || e.Link[1] != "b" {
		t.Errorf("cost change %+v", e)
	}
}

func TestForgetAndBound(t *testing.T) {
	s := NewStore(time.Second)
	s.Sample(time.Now(), []ServiceSample{{Name: "old", Backends: []BackendSample{{Address: "x:1", Live: 3}}}})
	for range forgetAfter - 1 {
		s.Sample(time.Now(), nil)
	}
	d := s.Snapshot(Query{})
	if len(d.Services) != 1 || d.Services[0].Live[0] != 3 || d.Services[0].Live[1] != 0 {
		t.Fatalf("a service gone keeps its series until they run out: %+v", d.Services)
	}
	s.Sample(time.Now(), nil)
	if n := len(s.Snapshot(Query{}).Services); n != 0 || s.nSeries != 0 {
		t.Fatalf("%d services, %d series kept after they ran out", n, s.nSeries)
	}
	// past MaxSeries, a new backend gets none
	many := make([]BackendSample, MaxSeries+3)
	for i := range many {
		many[i].Address = string(rune(0x4e00 + i))
	}
	s.Sample(time.Now(), []ServiceSample{{Name: "big", Backends: many[:MaxSeries-1]}, {Name: "more", Backends: many[MaxSeries-1:]}})
	if s.nSeries > MaxSeries {
		t.Fatalf("%d series, more than %d", s.nSeries, MaxSeries)
	}
}

func TestQuery(t *testing.T) {
	s := NewStore(time.Second)
	s.Sample(time.Now(), []ServiceSample{{Name: "a", Backends: []BackendSample{{Address: "x:1"}}}, {Name: "b"}})
	if d := s.Snapshot(Query{Service: "b"}); len(d.Services) != 1 || d.Services[0].Name != "b" {
		t.Errorf("service=b: %+v", d.Services)
	}
	if d := s.Snapshot(Query{NoBackends: true}); len(d.Services) != 2 || d.Services[0].Backends != nil {
		t.Errorf("no backends: %+v", d.Services)
	}
}

// BenchmarkSample measures one sample of 50 services of 4 backends.
func BenchmarkSample(b *testing.B) {
	s := NewStore(time.Second)
	svcs := make([]ServiceSample, 50)
	for i := range svcs {
		svcs[i].Name = string(rune('A' + i))
		for j := range 4 {
			addr := svcs[i].Name + string(rune('0'+j))
			s.Hold(svcs[i].Name, addr)
			svcs[i].Backends = append(svcs[i].Backends, BackendSample{Site: "s", Address: addr, Healthy: true})
		}
	}
	for b.Loop() {
		s.Sample(time.Now(), svcs)
	}
}
