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

// saturated is the quotient live ÷ weight taken for a live count so large
// that live × fullShare ÷ the effective weight does not fit in 64 bits:
// still above any path cost plus any real count, and with room to add a
// path cost without overflow.
const saturated = math.MaxInt64 / 4

// cost is a perceived cost, path cost + live ÷ effective weight, held
// exactly as whole + frac/den with 0 ≤ frac < den: den is the effective
// weight in millionths of a weight (at most MaxWeight × fullShare < 2^30),
// so two costs compare by cross-multiplying their fractions in 64 bits,
// with no rounding.
type cost struct {
	whole     int64
	frac, den uint64
}

// perceived returns path + live ÷ (w / fullShare), where w is an
// effective weight in millionths of a weight (w > 0).
func perceived(path, live int64, w uint64) cost {
	if live <= 0 {
		return cost{whole: path, den: w}
	}
	hi, lo := bits.Mul64(uint64(live), fullShare)
	if hi >= w { // the quotient needs more than 64 bits
		return cost{whole: path + saturated, den: w}
	}
	q, r := bits.Div64(hi, lo, w)
	if q > saturated {
		return cost{whole: path + saturated, den: w}
	}
	return cost{whole: path + int64(q), frac: r, den: w}
}

// cmp compares c with d: -1 if c is lower, 0 if equal, +1 if higher.
func (c cost) cmp(d cost) int {
	switch {
	case c.whole < d.whole:
		return -1
	case c.whole > d.whole:
		return 1
	}
	// frac < den < 2^30 on both sides: the products stay below 2^60
	l, r := c.frac*d.den, d.frac*c.den
	switch {
	case l < r:
		return -1
	case l > r:
		return 1
	}
	return 0
}

// chooseWeighted is choose for a service where a backend has a weight
// other than 1 or slow start is on: the same rule, with each backend's
// live count divided by its effective weight, compared exactly.
func (b *Balancer) chooseWeighted(lost *lostRaces) (best int, stamp uint64) {
	best = -1
	scan := b.primaryScan()
	var bestCost cost
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
		w := e.weight * fullShare
		if b.slowStart > 0 {
			var share uint64
			share, _, now = b.rampShare(e, now)
			w = e.weight * share
		}
		path := e.pathCost()
		c := perceived(path, live, w)
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
