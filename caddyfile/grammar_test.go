package caddyfile_test

import (
	"strings"
	"testing"

	cfile "github.com/costlb/costlb/caddyfile"
)

func TestCost(t *testing.T) {
	const rule = "must be an integer from 1 to 2147483647"
	for _, s := range []string{"1", "5", "9999", "2147483647"} {
		if _, err := cfile.Cost(s); err != nil {
			t.Errorf("Cost(%q): %v", s, err)
		}
	}
	for _, s := range []string{"", "0", "-1", "2147483648", "1.5", "1e3", "abc", " 1", "1 ", "99999999999", "NaN", "∞", "+5", "0x10"} {
		_, err := cfile.Cost(s)
		if err == nil {
			t.Errorf("Cost(%q) accepted", s)
			continue
		}
		if !strings.Contains(err.Error(), rule) || !strings.Contains(err.Error(), `"`+s+`"`) {
			t.Errorf("Cost(%q) error %q should quote the value and say %q", s, err, rule)
		}
	}
}
