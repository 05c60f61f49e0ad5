package linkgraph

import (
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
	"testing"
)

func TestLinkUnmarshalJSONAccepts(t *testing.T) {
	tests := []struct {
		in   string
		want Link
	}{
		{`{"between":["east","west"]}`, ln("east", "west", 0)},
		{`{"between":["east","west"],"cost":5}`, ln("east", "west", 5)},
		{`{"cost":1,"between":["west","east"]}`, ln("west", "east", 1)},
		{`{"between":["a","b"],"cost":2147483647}`, ln("a", "b", MaxCost)},
		// the same JSON values as whole numbers: POST /load re-encodes
		// numbers, so caddy validate must accept what /load accepts
		{`{"between":["a","b"],"cost":1.0}`, ln("a", "b", 1)},
		{`{"between":["a","b"],"cost":1e3}`, ln("a", "b", 1000)},
		{`{"between":["a","b"],"cost":2.147483647e9}`, ln("a", "b", MaxCost)},
		{`{"between":["a","b"],"cost":50e-1}`, ln("a", "b", 5)},
		{`{"between":["a","b"],"cost":0.5E+1}`, ln("a", "b", 5)},
		{`{"between":["a","b"],"cost":10.0e-1}`, ln("a", "b", 1)},
		{`{"between":["a","b"],"cost":100000000000e-11}`, ln("a", "b", 1)},
		{`{"between":["a","b"],"cost":2147483647.00000000000000000000}`, ln("a", "b", MaxCost)},
		{`{"between":["a","b"],"cost":7e0000000000000000000000}`, ln("a", "b", 7)},
		{" \n{ \"between\" : [ \"a\" ,\t\"b\" ] , \"cost\" : 12 } \n", ln("a", "b", 12)},
		{`{"between":["caf\u00e9","b"]}`, ln("café", "b", 0)},
		// Site names are checked by New, not here.
		{`{"between":["",""]}`, ln("", "", 0)},
	}
	for _, tt := range tests {
		var got Link
		if err := json.Unmarshal([]byte(tt.in), &got); err != nil {
			t.Errorf("Unmarshal(%s): %v", tt.in, err)
			continue
		}
		if got != tt.want {
			t.Errorf("Unmarshal(%s) = %+v, want %+v", tt.in, got, tt.want)
		}
		// The direct call agrees.
		var direct Link
		if err := direct.UnmarshalJSON([]byte(tt.in)); err != nil || direct != tt.want {
			t.Errorf("UnmarshalJSON(%s) = %+v, %v", tt.in, direct, err)
		}
	}

	var links []Link
	in := `[{"between":["hq","east"],"cost":3},{"between":["east","west"]}]`
	if err := json.Unmarshal([]byte(in), &links); err != nil {
		t.Fatal(err)
	}
	if len(links) != 2 || links[0] != ln("hq", "east", 3) || links[1] != ln("east", "west", 0) {
		t.Fatalf("Unmarshal(%s) = %+v", in, links)
	}
}

func TestLinkUnmarshalJSONRejects(t *testing.T) {
	const rangeMsg = "must be an integer from 1 to 2147483647"
	tests := []struct {
		in   string
		want []string // substrings of the error
	}{
		{`{"between":["a","b"],"cost":0}`, []string{"cost 0 is too small", rangeMsg}},
		{`{"between":["a","b"],"cost":-3}`, []string{"cost -3 is negative", rangeMsg}},
		{`{"between":["a","b"],"cost":-0}`, []string{"cost -0", rangeMsg}},
		{`{"between":["a","b"],"cost":1.5}`, []string{"cost 1.5", rangeMsg}},
		{`{"between":["a","b"],"cost":1e-1}`, []string{"cost 1e-1", rangeMsg}},
		{`{"between":["a","b"],"cost":2.5}`, []string{"cost 2.5", rangeMsg}},
		{`{"between":["a","b"],"cost":2.147483648e9}`, []string{"cost 2.147483648e9", rangeMsg}},
		{`{"between":["a","b"],"cost":0.0}`, []string{"cost 0.0", rangeMsg}},
		// not whole, though float64 rounds each to a whole number
		{`{"between":["a","b"],"cost":0.99999999999999999}`, []string{"cost 0.99999999999999999 is not a whole number", rangeMsg}},
		{`{"between":["a","b"],"cost":1.00000000000000001}`, []string{"cost 1.00000000000000001", rangeMsg}},
		{`{"between":["a","b"],"cost":4.99999999999999999e0}`, []string{"cost 4.99999999999999999e0", rangeMsg}},
		{`{"between":["a","b"],"cost":2147483646.9999999999}`, []string{"cost 2147483646.9999999999", rangeMsg}},
		{`{"between":["a","b"],"cost":1e-400}`, []string{"cost 1e-400", rangeMsg}},
		{`{"between":["a","b"],"cost":10000000000000000000001e-22}`, []string{"cost 10000000000000000000001e-22", rangeMsg}},
		{`{"between":["a","b"],"cost":1e400}`, []string{"cost 1e400 is too large", rangeMsg}},
		{`{"between":["a","b"],"cost":1E+10}`, []string{"cost 1E+10", rangeMsg}},
		{`{"between":["a","b"],"cost":1e99999999999999999999}`, []string{"cost 1e99999999999999999999", rangeMsg}},
		{`{"between":["a","b"],"cost":0e5}`, []string{"cost 0e5", rangeMsg}},
		{`{"between":["a","b"],"cost":"5"}`, []string{`cost "5" is not a number`, rangeMsg}},
		{`{"between":["a","b"],"cost":99999999999}`, []string{"cost 99999999999", rangeMsg}},
		{`{"between":["a","b"],"cost":2147483648}`, []string{"cost 2147483648", rangeMsg}},
		{`{"between":["a","b"],"cost":99999999999999999999999}`, []string{"cost 99999999999999999999999", rangeMsg}},
		{`{"between":["a","b"],"cost":1.0000000000000002}`, []string{"cost 1.0000000000000002 is not a whole number", rangeMsg}},
		{`{"between":["a","b"],"cost":null}`, []string{"cost null", rangeMsg}},
		{`{"between":["a","b"],"cost":true}`, []string{"cost true", rangeMsg}},
		{`{"between":["a","b"],"cost":[1]}`, []string{"cost [1]", rangeMsg}},
		{`{"between":["a"]}`, []string{`["a"]`, "exactly 2"}},
		{`{"between":[]}`, []string{`[]`, "exactly 2"}},
		{`{"between":["a","b","c"]}`, []string{`["a","b","c"]`, "exactly 2"}},
		{`{"between":"a-b"}`, []string{`"a-b"`, "exactly 2"}},
		{`{"between":["a",1]}`, []string{`["a",1]`, "exactly 2"}},
		{`{"between":["a",null]}`, []string{`["a",null]`, "exactly 2"}},
		{`{"between":null}`, []string{`null`, "exactly 2"}},
		{`{"between":{"0":"a","1":"b"}}`, []string{`{"0":"a","1":"b"}`, "exactly 2"}},
		{`{}`, []string{`no "between"`}},
		{`{"cost":5}`, []string{`no "between"`}},
		{`{"between":["a","b"],"weight":3}`, []string{`unknown field "weight"`, `"between" and "cost"`}},
		{`{"Between":["a","b"]}`, []string{`unknown field "Between"`}},
		{`{"between":["a","b"],"between":["c","d"]}`, []string{`"between" more than once`}},
		{`{"between":["a","b"],"cost":1,"cost":2}`, []string{`"cost" more than once`}},
		{`null`, []string{"must be a JSON object", "null"}},
		{`["a","b"]`, []string{"must be a JSON object", `["a","b"]`}},
		{`"a-b"`, []string{"must be a JSON object", `"a-b"`}},
		{`5`, []string{"must be a JSON object", "5"}},
	}
	for _, tt := range tests {
		var got Link
		err := json.Unmarshal([]byte(tt.in), &got)
		if err == nil {
			t.Errorf("Unmarshal(%s) = %+v, want an error", tt.in, got)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("Unmarshal(%s) error %q does not contain %q", tt.in, err, w)
			}
		}
		// Inside a list, as in a config.
		var links []Link
		if err := json.Unmarshal([]byte("["+tt.in+"]"), &links); err == nil {
			t.Errorf("Unmarshal([%s]) = %+v, want an error", tt.in, links)
		}
	}

	// Called directly, malformed JSON and trailing data are errors too.
	for _, in := range []string{``, `{`, `{"between":["a","b"]`, `{"between":["a","b"]} x`, `{"between":["a","b"]}{}`, `{"between" ["a","b"]}`} {
		var l Link
		if err := l.UnmarshalJSON([]byte(in)); err == nil {
			t.Errorf("UnmarshalJSON(%q) = %+v, want an error", in, l)
		}
	}
}

func TestLinkUnmarshalJSONLeavesLinkOnError(t *testing.T) {
	l := ln("x", "y", 7)
	if err := l.UnmarshalJSON([]byte(`{"between":["a","b"],"cost":0}`)); err == nil {
		t.Fatal("want an error")
	}
	if l != ln("x", "y", 7) {
		t.Fatalf("link changed on error: %+v", l)
	}
}

func TestLinkJSONRoundTrip(t *testing.T) {
	for _, l := range []Link{ln("east", "west", 0), ln("east", "west", 9), ln("a\"b", "é", MaxCost)} {
		b, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		var got Link
		if err := json.Unmarshal(b, &got); err != nil || got != l {
			t.Errorf("round trip of %+v via %s = %+v, %v", l, b, got, err)
		}
	}
}

func TestLinkString(t *testing.T) {
	tests := []struct {
		l    Link
		want string
	}{
		{ln("east", "west", 0), `"east"–"west"`},
		{ln("east", "west", 5), `"east"–"west" (cost 5)`},
		{ln("us-east", "", -1), `"us-east"–"" (cost -1)`},
		{ln("a b", "x\x00", 1), `"a b"–"x\x00" (cost 1)`},
	}
	for _, tt := range tests {
		if got := tt.l.String(); got != tt.want {
			t.Errorf("%#v.String() = %s, want %s", tt.l, got, tt.want)
		}
	}
	long := strings.Repeat("x", 1000)
	if got := ln(long, "b", 0).String(); len(got) > 300 || !strings.Contains(got, "1000 bytes") {
		t.Errorf("String() of a 1000-byte name = %q", got)
	}
}

func TestCheckSiteName(t *testing.T) {
	good := []string{"a", "hq", "us-east-1", "site_2.example", "café", "東京", "a.b", strings.Repeat("x", 128), strings.Repeat("é", 64)}
	for _, s := range good {
		if err := CheckSiteName(s); err != nil {
			t.Errorf("CheckSiteName(%q): %v", s, err)
		}
	}
	bad := []struct {
		name string
		want []string
	}{
		{"", []string{"empty", "1 to 128 bytes"}},
		{strings.Repeat("x", 129), []string{`"` + strings.Repeat("x", 129) + `"`, "too long (129 bytes)", "1 to 128 bytes"}},
		{strings.Repeat("é", 65), []string{"too long (130 bytes)"}},
		{"ab\xff", []string{`"ab\xff"`, "not valid UTF-8", "0xff", "offset 2"}},
		{"\xc3", []string{`"\xc3"`, "not valid UTF-8"}},
		{"east coast", []string{`"east coast"`, "whitespace", "U+0020", "byte 4"}},
		{" east", []string{`" east"`, "whitespace", "byte 0"}},
		{"east\n", []string{`"east\n"`, "whitespace", "U+000A"}},
		{"a\tb", []string{`"a\tb"`, "whitespace", "U+0009"}},
		{"a\u00a0b", []string{`"a\u00a0b"`, "whitespace", "U+00A0"}},
		{"a\u3000b", []string{"whitespace", "U+3000"}},
		{"a\x00b", []string{`"a\x00b"`, "control character", "U+0000"}},
		{"a\x7fb", []string{`"a\x7fb"`, "control character", "U+007F"}},
		{"a\u009bb", []string{"control character", "U+009B"}},
	}
	for _, tt := range bad {
		err := CheckSiteName(tt.name)
		if err == nil {
			t.Errorf("CheckSiteName(%q) = nil, want an error", tt.name)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("CheckSiteName(%q) error %q does not contain %q", tt.name, err, w)
			}
		}
	}
}

// FuzzCostLiteral: a JSON cost literal is accepted exactly when its exact
// decimal value (math/big, never float64) is a whole number from 1 to
// MaxCost, and then as that value.
func FuzzCostLiteral(f *testing.F) {
	f.Add("0", "99999999999999999", int8(0))
	f.Add("5", "", int8(0))
	f.Add("50", "", int8(-1))
	f.Add("2147483647", "0000", int8(0))
	f.Add("2", "147483648", int8(9))
	f.Add("1", "00000000000000001", int8(0))
	f.Fuzz(func(t *testing.T, intPart, frac string, exp int8) {
		onlyDigits := func(s string) bool { return strings.Trim(s, "0123456789") == "" }
		if intPart == "" || !onlyDigits(intPart) || !onlyDigits(frac) || len(intPart)+len(frac) > 60 ||
			(len(intPart) > 1 && intPart[0] == '0') {
			t.Skip()
		}
		lit := intPart
		if frac != "" {
			lit += "." + frac
		}
		if exp != 0 {
			lit += "e" + strconv.Itoa(int(exp))
		}
		exact, ok := new(big.Rat).SetString(lit)
		if !ok {
			t.Fatalf("big.Rat cannot read %s", lit)
		}
		whole := exact.IsInt() && exact.Num().Cmp(big.NewInt(1)) >= 0 && exact.Num().Cmp(big.NewInt(MaxCost)) <= 0
		var l Link
		err := json.Unmarshal([]byte(`{"between":["a","b"],"cost":`+lit+`}`), &l)
		switch {
		case whole && err != nil:
			t.Fatalf("cost %s (= %s) refused: %v", lit, exact.RatString(), err)
		case whole && l.Cost != exact.Num().Int64():
			t.Fatalf("cost %s read as %d, want %s", lit, l.Cost, exact.RatString())
		case !whole && err == nil:
			t.Fatalf("cost %s (= %s) accepted as %d", lit, exact.RatString(), l.Cost)
		}
	})
}
