// Package costnum reads costs, the one syntax for every cost costlb reads:
// a link cost in the Caddyfile or the JSON config, a link_cost override,
// and a route's cost in a peer's readiness answer.
//
// A cost is written as a JSON number literal (RFC 8259): an optional minus
// sign, the integer digits without a leading zero, an optional fraction
// and an optional exponent. Its value is read exactly from its decimal
// digits, never through float64, and must be a whole number: 5, 5.0, 50e-1
// and 5e0 are all 5, while 0.99999999999999999 and 1.0000000000000002 are
// not whole (float64 would round the first to 1). Each caller says which
// values it allows. Reading takes time linear in the literal's length and
// no memory beyond it, whatever the exponent.
package costnum

import (
	"errors"
	"math"
)

// Why a literal is refused. Each is a phrase that follows the value in a
// message: "cost 1.5 is not a whole number: ...".
var (
	ErrSyntax      = errors.New("is not a number")
	ErrLeadingZero = errors.New("is not a number (a number does not start with 0 unless it is 0 or 0.<digits>)")
	ErrNotWhole    = errors.New("is not a whole number")
	ErrNegative    = errors.New("is negative")
	ErrTooSmall    = errors.New("is too small")
	ErrTooLarge    = errors.New("is too large")
	errBadBounds   = errors.New("costnum: bounds out of order")
)

// maxExponentSeen saturates an exponent's magnitude.
const maxExponentSeen = int64(1) << 50

// Parse reads lit, a JSON number literal (no sign other than a leading
// minus, no spaces, no leading zeros, no quotes), and returns its exact
// value if it is a whole number from lo to hi. Otherwise the error is one
// of ErrSyntax, ErrLeadingZero, ErrNotWhole, ErrNegative (a value below 0
// when lo is 0 or more), ErrTooSmall or ErrTooLarge, checked in that order.
// -0 is 0. lo must not be above hi.
func Parse(lit string, lo, hi int64) (int64, error) {
	if lo > hi {
		return 0, errBadBounds
	}
	neg, intPart, frac, exp, err := scan(lit)
	if err != nil {
		return 0, err
	}
	v, fits, err := whole(intPart, frac, exp)
	if err != nil {
		return 0, err
	}
	switch {
	case neg && (v != 0 || !fits) && lo >= 0:
		return 0, ErrNegative
	case !fits && neg:
		return 0, ErrTooSmall
	case !fits:
		return 0, ErrTooLarge
	}
	if neg {
		v = -v
	}
	switch {
	case v < lo:
		return 0, ErrTooSmall
	case v > hi:
		return 0, ErrTooLarge
	}
	return v, nil
}

// scan splits a JSON number literal into its sign, integer digits,
// fraction digits and exponent; the exponent saturates at ±maxExponentSeen,
// far beyond any literal's length, so a saturated exponent still decides
// whether the value is whole and how large it is.
func scan(lit string) (neg bool, intPart, frac string, exp int64, err error) {
	i := 0
	if i < len(lit) && lit[i] == '-' {
		neg = true
		i++
	}
	start := i
	switch {
	case i < len(lit) && lit[i] == '0':
		i++
		if i < len(lit) && isDigit(lit[i]) {
			return false, "", "", 0, ErrLeadingZero
		}
	case i < len(lit) && isDigit(lit[i]):
		for i < len(lit) && isDigit(lit[i]) {
			i++
		}
	default:
		return false, "", "", 0, ErrSyntax
	}
	intPart = lit[start:i]
	if i < len(lit) && lit[i] == '.' {
		i++
		fs := i
		for i < len(lit) && isDigit(lit[i]) {
			i++
		}
		if i == fs {
			return false, "", "", 0, ErrSyntax
		}
		frac = lit[fs:i]
	}
	if i < len(lit) && (lit[i] == 'e' || lit[i] == 'E') {
		i++
		expNeg := false
		if i < len(lit) && (lit[i] == '+' || lit[i] == '-') {
			expNeg = lit[i] == '-'
			i++
		}
		es := i
		for ; i < len(lit) && isDigit(lit[i]); i++ {
			if exp < maxExponentSeen {
				exp = exp*10 + int64(lit[i]-'0')
			}
		}
		if i == es {
			return false, "", "", 0, ErrSyntax
		}
		exp = min(exp, maxExponentSeen)
		if expNeg {
			exp = -exp
		}
	}
	if i != len(lit) {
		return false, "", "", 0, ErrSyntax
	}
	return neg, intPart, frac, exp, nil
}

// whole returns the magnitude of intPart.frac × 10^exp if it is a whole
// number: fits is false when it is above math.MaxInt64. A value that is
// not whole is ErrNotWhole.
func whole(intPart, frac string, exp int64) (v int64, fits bool, err error) {
	// The digits intPart+frac, read as one integer D, give the value
	// D × 10^(exp − len(frac)). Leading zeros do not count; trailing zeros
	// move into the power of ten.
	digits := func(k int) byte { // k-th digit of intPart+frac
		if k < len(intPart) {
			return intPart[k]
		}
		return frac[k-len(intPart)]
	}
	n := len(intPart) + len(frac)
	first := 0
	for first < n && digits(first) == '0' {
		first++
	}
	if first == n {
		return 0, true, nil // zero, whatever the exponent
	}
	last := n
	for digits(last-1) == '0' {
		last--
	}
	shift := exp - int64(len(frac)) + int64(n-last) // value = digits[first:last] × 10^shift
	if shift < 0 {
		return 0, false, ErrNotWhole // the last significant digit is below the units
	}
	if int64(last-first)+shift > 19 { // MaxInt64 has 19 digits
		return 0, false, nil
	}
	var u uint64
	for k := first; k < last; k++ {
		u = u*10 + uint64(digits(k)-'0')
	}
	for ; shift > 0; shift-- {
		u *= 10
	}
	if u > math.MaxInt64 { // 19 digits fit in a uint64
		return 0, false, nil
	}
	return int64(u), true, nil
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }
