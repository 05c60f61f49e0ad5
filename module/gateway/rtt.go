package gateway

import (
	"net/http"
	"net/http/httptrace"
	"sync"
	"time"
)

// pollTiming times one poll, for the round trip to the gateway's host: on
// a new connection the TCP connect (one round trip, name resolution left
// out), on a kept-alive one the wait from the request written to the
// first byte of the answer (one round trip plus the peer's answering,
// which a costlb_status readiness answer keeps short).
type pollTiming struct {
	mu                        sync.Mutex
	connectStart, connectDone time.Time
	wroteRequest, firstByte   time.Time
	reused, connected         bool
}

// timePoll returns req with a trace that fills in a pollTiming.
func timePoll(req *http.Request) (*http.Request, *pollTiming) {
	t := new(pollTiming)
	trace := &httptrace.ClientTrace{
		ConnectStart: func(string, string) {
			t.mu.Lock()
			t.connectStart = time.Now()
			t.mu.Unlock()
		},
		ConnectDone: func(_, _ string, err error) {
			t.mu.Lock()
			if err == nil && !t.connectStart.IsZero() && !t.connected {
				t.connectDone, t.connected = time.Now(), true
			}
			t.mu.Unlock()
		},
		GotConn: func(info httptrace.GotConnInfo) {
			t.mu.Lock()
			t.reused = info.Reused
			t.mu.Unlock()
		},
		WroteRequest: func(httptrace.WroteRequestInfo) {
			t.mu.Lock()
			t.wroteRequest = time.Now()
			t.mu.Unlock()
		},
		GotFirstResponseByte: func() {
			t.mu.Lock()
			t.firstByte = time.Now()
			t.mu.Unlock()
		},
	}
	return req.WithContext(httptrace.WithClientTrace(req.Context(), trace)), t
}

// roundTrip returns the round trip the poll measured, if it measured one;
// a nil t measured nothing.
func (t *pollTiming) roundTrip() (time.Duration, bool) {
	if t == nil {
		return 0, false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	switch {
	case t.connected:
		return t.connectDone.Sub(t.connectStart), true
	case t.reused && !t.wroteRequest.IsZero() && t.firstByte.After(t.wroteRequest):
		return t.firstByte.Sub(t.wroteRequest), true
	}
	return 0, false
}
