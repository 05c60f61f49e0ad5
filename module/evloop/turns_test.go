//go:build linux

package evloop

import "testing"

// TestTurnsFirstComeFirstServed: sockets get their turns in the order they
// queued, each is queued once however often it asks, one that queues again
// goes behind the others, and the queue reuses its array as it drains.
func TestTurnsFirstComeFirstServed(t *testing.T) {
	var q turns
	hs := make([]half, 200)
	for i := range hs {
		q.push(&hs[i])
		q.push(&hs[i]) // a second event before its turn: still once
	}
	if got := len(q.q) - q.head; got != len(hs) {
		t.Fatalf("%d queued, want %d", got, len(hs))
	}
	// serve half of them, requeueing every other one behind the rest
	for i := 0; i < 100; i++ {
		h := q.pop()
		if h != &hs[i] {
			t.Fatalf("turn %d went to socket %p, want %p", i, h, &hs[i])
		}
		if h.queued {
			t.Fatalf("socket %d still marked queued during its turn", i)
		}
		if i%2 == 0 {
			q.push(h)
		}
	}
	var order []*half
	for !q.empty() {
		order = append(order, q.pop())
	}
	if len(order) != 150 {
		t.Fatalf("%d turns left, want 150", len(order))
	}
	for i := 0; i < 100; i++ {
		if order[i] != &hs[100+i] {
			t.Fatalf("turn %d after the first hundred went to %p, want socket %d", i, order[i], 100+i)
		}
	}
	for i := 0; i < 50; i++ {
		if order[100+i] != &hs[2*i] {
			t.Fatalf("requeued turn %d went to %p, want socket %d", i, order[100+i], 2*i)
		}
	}
	for i, h := range q.q {
		if h != nil {
			t.Fatalf("drained queue still references socket at %d", i)
		}
	}
	// an empty queue starts over at the front of its array
	q.push(&hs[0])
	if q.head != 0 || len(q.q) != 1 {
		t.Fatalf("after draining: head %d len %d, want 0 and 1", q.head, len(q.q))
	}
}
