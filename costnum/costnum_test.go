package costnum

import (
	"encoding/json"
	"errors"
	"math"
	"math/big"
	"strings"
	"testing"
	"time"
)

const linkMax = 2147483647

func TestParseAccepts(t *testing.T) {
	tests := []struct {
		lit    string
		lo, hi int64
		want   int64
	}{
		{"5", 1, linkMax, 5},
		{"5.0", 1, linkMax, 5},
		{"5e0", 1, linkMax, 5},
		{"5E+0", 1, linkMax, 5},
		{"50e-1", 1, linkMax, 5},
		{"0.5e1", 1, linkMax, 5},
		{"500000e-5", 1, linkMax, 5},
		{"5.000000000000000000000000000000", 1, linkMax, 5},
		{"2147483647", 1, linkMax, linkMax},
		{"2.147483647e9", 1, linkMax, linkMax},
		{"1e3", 1, linkMax, 1000},
		{"0", 0, 1 << 40, 0},
		{"-0", 0, 1 << 40, 0},
		{"-0.0e-5", 0, 1 << 40, 0},
		{"0e99999999999999999999", 0, 1 << 40, 0},
		{"1099511627776", 0, 1 << 40, 1 << 40},
		{"9223372036854775807", 0, math.MaxInt64, math.MaxInt64},
		{"-9223372036854775807", math.MinInt64 + 1, 0, math.MinInt64 + 1},
		{"-12", -20, 20, -12},
	}
	for _, tt := range tests {
		got, err := Parse(tt.lit, tt.lo, tt.hi)
		if err != nil || got != tt.want {
			t.Errorf("Parse(%q, %d, %d) = %d, %v; want %d", tt.lit, tt.lo, tt.hi, got, err, tt.want)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	tests := []struct {
		lit  string
		lo   int64
		hi   int64
		want error
	}{
		{"", 1, linkMax, ErrSyntax},
		{"-", 1, linkMax, ErrSyntax},
		{"+1", 1, linkMax, ErrSyntax},
		{" 1", 1, linkMax, ErrSyntax},
		{"1 ", 1, linkMax, ErrSyntax},
		{"1.", 1, linkMax, ErrSyntax},
		{".5", 1, linkMax, ErrSyntax},
		{"1e", 1, linkMax, ErrSyntax},
		{"1e+", 1, linkMax, ErrSyntax},
		{"1_000", 1, linkMax, ErrSyntax},
		{"0x10", 1, linkMax, ErrSyntax},
		{"NaN", 1, linkMax, ErrSyntax},
		{"Infinity", 1, linkMax, ErrSyntax},
		{"∞", 1, linkMax, ErrSyntax},
		{`"5"`, 1, linkMax, ErrSyntax},
		{"null", 1, linkMax, ErrSyntax},
		{"05", 1, linkMax, ErrLeadingZero},
		{"-007", 0, linkMax, ErrLeadingZero},
		{"0.99999999999999999", 1, linkMax, ErrNotWhole},
		{"1.0000000000000002", 1, linkMax, ErrNotWhole},
		{"1.00000000000000001", 1, linkMax, ErrNotWhole},
		{"4.99999999999999999e0", 1, linkMax, ErrNotWhole},
		{"2147483646.9999999999", 1, linkMax, ErrNotWhole},
		{"1e-400", 1, linkMax, ErrNotWhole},
		{"1e-99999999999999999999", 1, linkMax, ErrNotWhole},
		{"10000000000000000000001e-22", 1, linkMax, ErrNotWhole},
		{"-1.5", 0, linkMax, ErrNotWhole},
		{"-1", 0, linkMax, ErrNegative},
		{"-1e400", 0, linkMax, ErrNegative},
		{"0", 1, linkMax, ErrTooSmall},
		{"-0", 1, linkMax, ErrTooSmall},
		{"0e5", 1, linkMax, ErrTooSmall},
		{"-30", -20, 20, ErrTooSmall},
		{"-1e400", -20, 20, ErrTooSmall},
		{"2147483648", 1, linkMax, ErrTooLarge},
		{"2.147483648e9", 1, linkMax, ErrTooLarge},
		{"1e400", 1, linkMax, ErrTooLarge},
		{"1e99999999999999999999", 1, linkMax, ErrTooLarge},
		{"99999999999999999999999", 1, linkMax, ErrTooLarge},
		{"9223372036854775808", 0, math.MaxInt64, ErrTooLarge},
		{"1099511627777", 0, 1 << 40, ErrTooLarge},
	}
	for _, tt := range tests {
		got, err := Parse(tt.lit, tt.lo, tt.hi)
		if !errors.Is(err, tt.want) {
			t.Errorf("Parse(%q, %d, %d) = %d, %v; want %v", tt.lit, tt.lo, tt.hi, got, err, tt.want)
		}
	}
	if _, err := Parse("1", 2, 1); err == nil {
		t.Error("Parse with lo > hi accepted")
	}
}

// TestParseHugeLiteralsAreCheap: a literal's exponent costs nothing and its
// digits cost one pass, so a peer cannot make a reader allocate or spin.
func TestParseHugeLiteralsAreCheap(t *testing.T) {
	long := "1" + strings.Repeat("0", 1<<20) + "e-1048576"
	lits := []string{"1e999999999999999999999999999999", "1e-999999999999999999999999999999", long, "0." + strings.Repeat("0", 1<<20) + "1"}
	for _, lit := range lits {
		start := time.Now()
		allocs := testing.AllocsPerRun(3, func() { _, _ = Parse(lit, 0, math.MaxInt64) })
		if allocs != 0 {
			t.Errorf("Parse of a %d-byte literal allocated %v times", len(lit), allocs)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("Parse of a %d-byte literal took %v", len(lit), d)
		}
	}
	if v, err := Parse(long, 0, 10); err != nil || v != 1 {
		t.Errorf("Parse(1 and 2^20 zeros e-1048576) = %d, %v; want 1", v, err)
	}
}

// refParse is an independent statement of the rule: lit is a JSON number
// (encoding/json's grammar, nothing around it) whose exact value, by
// math/big, is a whole number from lo to hi.
func refParse(lit string, lo, hi int64) (int64, bool) {
	if lit == "" || (lit[0] != '-' && (lit[0] < '0' || lit[0] > '9')) || strings.TrimSpace(lit) != lit || !json.Valid([]byte(lit)) {
		return 0, false
	}
	mant, expStr, hasExp := strings.Cut(strings.ToLower(lit), "e")
	m, ok := new(big.Rat).SetString(mant)
	if !ok {
		return 0, false
	}
	exp := new(big.Int)
	if hasExp {
		if _, ok := exp.SetString(strings.TrimPrefix(expStr, "+"), 10); !ok {
			return 0, false
		}
	}
	if m.Sign() == 0 {
		return 0, lo <= 0 && 0 <= hi
	}
	// A nonzero mantissa of at most a few hundred digits times 10 to a
	// power beyond ±10000 is far out of any int64 range or not whole.
	if exp.CmpAbs(big.NewInt(10000)) > 0 {
		return 0, false
	}
	pow := new(big.Rat).SetInt(new(big.Int).Exp(big.NewInt(10), new(big.Int).Abs(exp), nil))
	if exp.Sign() < 0 {
		pow.Inv(pow)
	}
	v := m.Mul(m, pow)
	if !v.IsInt() || v.Num().Cmp(big.NewInt(lo)) < 0 || v.Num().Cmp(big.NewInt(hi)) > 0 {
		return 0, false
	}
	return v.Num().Int64(), true
}

// FuzzParse compares Parse with refParse for acceptance and value, for the
// bounds of link costs and of route costs.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"0.99999999999999999", "1.0000000000000002", "5e0", "50e-1", "5.0", "2147483647", "2147483648",
		"1e400", "-1e400", "1e-400", "-0", "+1", "05", "00", "0.0", "-01", "1e99999999999999999999",
		"0e99999999999999999999", "1099511627776", "1099511627777", "1.099511627776e12", "10000000000000000000001e-22",
		"9223372036854775807", "9223372036854775808", "18446744073709551616", "1E+2", "1e", "1.", ".1", "-", "",
		" 1", "0x10", "NaN", `"5"`, "1_0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, lit string) {
		if len(lit) > 400 {
			t.Skip()
		}
		for _, b := range [][2]int64{{1, linkMax}, {0, 1 << 40}, {math.MinInt64, math.MaxInt64}} {
			got, err := Parse(lit, b[0], b[1])
			want, ok := refParse(lit, b[0], b[1])
			switch {
			case ok && err != nil:
				t.Fatalf("Parse(%q, %d, %d) refused it: %v; want %d", lit, b[0], b[1], err, want)
			case !ok && err == nil:
				t.Fatalf("Parse(%q, %d, %d) = %d; want it refused", lit, b[0], b[1], got)
			case ok && got != want:
				t.Fatalf("Parse(%q, %d, %d) = %d; want %d", lit, b[0], b[1], got, want)
			}
		}
	})
}
