package pipepool

// Burst is the splice policy of one direction of a proxied connection,
// the same on both engines (see docs/data-path.md): a read that fills the
// engine's buffer starts splice mode; splice mode lasts until
// SmallBurstsToRead bursts in a row (data moved between two waits for
// readability) were smaller than that buffer, as small bursts are cheaper
// read and a bulk transfer whose bursts vary should not go back and
// forth; a splice that cannot work on a socket makes the direction read
// for good.
type Burst struct {
	full     int   // the engine's buffer size: a read this large is bulk
	splicing bool  // in splice mode
	never    bool  // splice cannot work here
	moved    int64 // bytes spliced since the last wait
	small    int   // small bursts in a row
}

// NewBurst returns the policy of a direction read into buffers of full
// bytes; can is false where splice cannot work at all.
func NewBurst(full int, can bool) Burst { return Burst{full: full, never: !can} }

// Splicing reports whether the direction is in splice mode.
func (b *Burst) Splicing() bool { return b.splicing }

// Read notes a read of n bytes: a full buffer starts splice mode.
func (b *Burst) Read(n int) {
	if n >= b.full && !b.never {
		b.splicing, b.moved = true, 0
	}
}

// Spliced notes n bytes spliced in this burst.
func (b *Burst) Spliced(n int64) { b.moved += n }

// Drained notes that the socket had nothing more to read in splice mode:
// the burst ended, and a few small ones in a row end splice mode.
func (b *Burst) Drained() {
	if b.moved >= int64(b.full) {
		b.small = 0
	} else if b.small++; b.small >= SmallBurstsToRead {
		b.splicing, b.small = false, 0
	}
	b.moved = 0
}

// Refuse makes the direction read from now on: splice failed to start
// (no pipe) or the socket cannot splice (EINVAL). Nothing was lost.
func (b *Burst) Refuse() { b.splicing, b.never = false, true }

// SmallBurstsToRead is how many bursts in a row smaller than the engine's
// buffer end splice mode.
const SmallBurstsToRead = 4
