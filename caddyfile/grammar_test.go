package caddyfile_test

import (
	"strconv"
	"strings"
	"testing"

	cfile "github.com/costlb/costlb/caddyfile"
)

func TestCost(t *testing.T) {
	const rule = "must be an integer from 1 to 2147483647"
	// One syntax for every cost: a JSON number with a whole value.
	good := map[string]int64{"1": 1, "5": 5, "5.0": 5, "5e0": 5, "50e-1": 5, "1e3": 1000, "9999": 9999, "2147483647": 2147483647, "2.147483647e9": 2147483647}
	for s, want := range good {
		if got, err := cfile.Cost(s); err != nil || got != want {
			t.Errorf("Cost(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "0", "-0", "-1", "2147483648", "1.5", "0.99999999999999999", "1.0000000000000002", "1e400", "1e-400",
		"05", "abc", " 1", "1 ", "99999999999", "NaN", "∞", "+5", "0x10", `"5"`} {
		_, err := cfile.Cost(s)
		if err == nil {
			t.Errorf("Cost(%q) accepted", s)
			continue
		}
		if !strings.Contains(err.Error(), rule) || !strings.Contains(err.Error(), strconv.Quote(s)) {
			t.Errorf("Cost(%q) error %q should quote the value and say %q", s, err, rule)
		}
	}
}
