package costlb

import (
	"math"
	"math/bits"
)

// MaxWeight is the largest backend weight.
const MaxWeight = 1000

// fullShare is a whole weight in the fixed-point units of an effective
// weight: a backend's effective weight is its weight × its share, the share
// in millionths (fullShare when it is not ramping up after slow start).
const fullShare = 1_000_000

// saturated caps the quotient live ÷ weight a report shows (State's
// Perceived) for a live count so large that it does not fit in 64 bits.
const saturated = math.MaxInt64 / 4

// ratio is a perceived cost, path cost + live ÷ effective weight, held
// exactly as the fraction n / w: w is the effective weight in millionths
// of a weight (at most MaxWeight × fullShare < 2^30) and n = path × w +
// live × fullShare (below 2^84: a path cost is below 2^42, a live count
// below 2^63). Two ratios compare by cross-multiplying, n_a × w_b against
// n_b × w_a, below 2^114 and so exact in 128 bits, with no rounding and no
// division.
type ratio struct {
	hi, lo uint64 // n
	w      uint64
}

// ratioOf returns the ratio of path + live ÷ (w / fullShare), w > 0.
func ratioOf(path, live int64, w uint64) ratio {
	ph, pl := bits.Mul64(uint64(path), w)
	lh, ll := bits.Mul64(uint64(max(live, 0)), fullShare)
	lo, carry := bits.Add64(pl, ll, 0)
	return ratio{hi: ph + lh + carry, lo: lo, w: w}
}

// cmp compares r with s: -1 if r is lower, 0 if equal, +1 if higher.
func (r ratio) cmp(s ratio) int {
	ah, al := mul128(r.hi, r.lo, s.w)
	bh, bl := mul128(s.hi, s.lo, r.w)
	switch {
	case ah < bh || (ah == bh && al < bl):
		return -1
	case ah > bh || al > bl:
		return 1
	}
	return 0
}

// mul128 returns (hi, lo) × m, which the bounds of ratio keep below 2^128.
func mul128(hi, lo, m uint64) (uint64, uint64) {
	h, l := bits.Mul64(lo, m)
	return hi*m + h, l
}

// perceived returns path + live ÷ (w / fullShare), rounded down, for a
// report.
func perceived(path, live int64, w uint64) int64 {
	r := ratioOf(path, live, w)
	if r.hi >= w { // the quotient needs more than 64 bits
		return path + saturated
	}
	q, _ := bits.Div64(r.hi, r.lo, w)
	if q > uint64(path)+saturated {
		return path + saturated
	}
	return int64(q)
}

// chooseWeighted is choose for a service where a backend has a weight
// other than 1 or slow start is on: the same rule, with each backend's
// live count divided by its effective weight, compared exactly.
func (b *Balancer) chooseWeighted(lost *lostRaces) (best int, stamp uint64) {
	best = -1
	scan := b.primaryScan()
	var bestCost ratio
	var bestPath int64
	var bestLast, newest uint64
	atNewest := 0 // how many backends carry the newest stamp
	var now int64 // read once, when a ramp needs it
	for i := range b.entries {
		e := &b.entries[i]
		if !e.usable() {
			b.noteDown(e)
			continue
		}
		scan.see(e)
		live := e.live()
		if e.MaxConns > 0 && live >= e.MaxConns {
			b.noteDown(e)
			continue
		}
		if lost.has(i) {
			continue
		}
		w := uint64(e.Weight) * fullShare
		if b.slowStart > 0 {
			var share uint64
			share, _, now = b.rampShare(e, now)
			w = uint64(e.Weight) * share
		}
		path := e.pathCost()
		c := ratioOf(path, live, w)
		last := e.last.Load()
		if last > newest {
			newest, atNewest = last, 1
		} else if last == newest {
			atNewest++
		}
		if best < 0 {
			best, bestCost, bestPath, bestLast = i, c, path, last
			continue
		}
		if d := c.cmp(bestCost); d < 0 || (d == 0 && (path < bestPath ||
			(path == bestPath && last < bestLast))) {
			best, bestCost, bestPath, bestLast = i, c, path, last
		}
	}
	b.endScan(&scan)
	if best >= 0 && (bestLast != newest || atNewest != 1 || newest == 0) {
		stamp = newest + 1
	}
	return best, stamp
}
