//go:build linux

package evloop

import "github.com/costlb/costlb/module/internal/pipepool"

// Turns. A loop serves many connections from one goroutine, so a socket
// that always has data must not hold it: left alone, a bulk stream whose
// sender keeps up with the loop is pumped for as long as it sends, and a
// new connection's first bytes waited 150-300 ms behind 16 bulk streams.
//
// So a socket in splice mode (a burst: pipepool.Burst) does not move when
// its event comes: it queues for a turn, as does a socket that moved a
// turn's budget and has more. Each turn of the loop looks for new events
// without blocking, serves them (sockets that are not in splice mode move
// at once: they carry small exchanges, whose latency this is for), then
// gives queued sockets their turns until they moved turnBudget bytes
// between them. In its turn a socket in splice mode makes one splice of up
// to turnBudget bytes and, if that found data and the peer took it all,
// queues again behind the others (if the peer did not, the peer's EPOLLOUT
// brings it back): what comes meanwhile goes in its next turn, in a larger
// splice, rather than in one more splice now that would find the socket
// empty. A new connection therefore waits for about one socket's turn, not
// for every stream of the loop. At 128 streams one splice per turn took
// the loop from 123,110 splices in 2 s (28 KB each) to 8,858, its
// throughput from 650 to 1,084 MB/s and its CPU per GB from 0.67 to 0.54 s
// (one 5-round loadbench run of both builds).
//
// The budget is a whole pipe (pipepool.Size; a pipe the system made
// smaller takes more splices per turn): in this machine's measurements
// every splice call costs a wake-up of the peer's reader, and a budget of
// 256 KiB took the loop's CPU per GB from 0.52 to 1.00 s at 16 streams,
// where a pipe's worth kept it level.

// turnBudget is how many bytes one socket moves in its turn.
const turnBudget = pipepool.Size

// turns is a loop's queue of sockets waiting for their turn, first come
// first served. A socket is in it at most once (half.queued).
type turns struct {
	q    []*half
	head int // q[head:] are queued
}

func (t *turns) empty() bool { return t.head == len(t.q) }

// push queues h, unless it is queued already.
func (t *turns) push(h *half) {
	if h.queued {
		return
	}
	h.queued = true
	switch {
	case t.head == len(t.q):
		t.q, t.head = t.q[:0], 0
	case t.head >= 64 && 2*t.head >= len(t.q):
		n := copy(t.q, t.q[t.head:])
		clear(t.q[n:])
		t.q, t.head = t.q[:n], 0
	}
	t.q = append(t.q, h)
}

// pop takes the socket whose turn it is; turns must not be empty.
func (t *turns) pop() *half {
	h := t.q[t.head]
	t.q[t.head] = nil
	t.head++
	h.queued = false
	return h
}

// nextTurn gives queued sockets their turns, first come first served,
// until they moved a turn's budget between them: a turn that finds
// little to move does not cost a look for events of its own.
func (l *loop) nextTurn() {
	for moved := 0; moved < turnBudget && !l.turns.empty(); {
		if h := l.turns.pop(); !h.c.ended {
			moved += h.pump()
		}
	}
}

// serve moves what h has now, or queues h for its turn if it is in
// splice mode.
func (h *half) serve() {
	// a queued socket moves in its turn, whatever mode it is in: one
	// that had to give up splicing is still a bulk stream
	if h.queued || !h.canMove() {
		return
	}
	if h.burst.Splicing() {
		h.c.l.turns.push(h)
		return
	}
	h.pump()
}

// canMove reports whether h's direction can move data now: its socket may
// have some, nothing of it waits for the peer, and it has not ended.
func (h *half) canMove() bool {
	return h.readable && h.pending == nil && h.pipe == nil && !h.eof && !h.c.ended
}
