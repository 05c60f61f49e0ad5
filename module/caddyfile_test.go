package module_test

import (
	"github.com/costlb/costlb/module"
	"github.com/costlb/costlb/module/internal/moduletest"
	"reflect"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/costlb/costlb/linkgraph"
)

// costRule, checkErr and lk are moduletest's.
const costRule = moduletest.CostRule

var (
	checkErr = moduletest.CheckErr
	lk       = moduletest.Link
)

// unmarshalApp parses a costlb global option.
func unmarshalApp(input string) (*module.App, error) {
	a := new(module.App)
	return a, a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(input))
}

func TestAppUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name  string
		input string
		site  string
		links []linkgraph.Link
	}{
		{"spec example", `costlb {
			site east             # the local site (required)
			link east west 5      # link <site> <site> [<cost>]
			link west north       # cost 1
		}`, "east", []linkgraph.Link{lk("east", "west", 5), lk("west", "north", 0)}},
		{"site only", "costlb {\n site east\n}", "east", nil},
		{"quoted names", "costlb {\n site \"east\"\n link `east` \"west\" 2\n}", "east", []linkgraph.Link{lk("east", "west", 2)}},
		{"unicode names", "costlb {\n site 東京\n link 東京 大阪 3\n link 大阪 café\n}", "東京",
			[]linkgraph.Link{lk("東京", "大阪", 3), lk("大阪", "café", 0)}},
		{"cost bounds", "costlb {\n site a\n link a b 1\n link b c 2147483647\n}", "a",
			[]linkgraph.Link{lk("a", "b", 1), lk("b", "c", linkgraph.MaxCost)}},
		{"costs as in JSON", "costlb {\n site a\n link a b 5e0\n link b c 5.0\n link c d 50e-1\n}", "a",
			[]linkgraph.Link{lk("a", "b", 5), lk("b", "c", 5), lk("c", "d", 5)}},
		{"link before site", "costlb {\n link a b 9999\n site a\n}", "a", []linkgraph.Link{lk("a", "b", 9999)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := unmarshalApp(tt.input)
			if err != nil {
				t.Fatalf("UnmarshalCaddyfile: %v\ninput:\n%s", err, tt.input)
			}
			if a.Site != tt.site || !reflect.DeepEqual(a.Links, tt.links) {
				t.Fatalf("got site %q links %v, want %q %v", a.Site, a.Links, tt.site, tt.links)
			}
		})
	}
}

func TestAppUnmarshalCaddyfileInvalid(t *testing.T) {
	tests := []struct {
		name  string
		input string
		want  []string
	}{
		{"no block", "costlb", []string{"missing 'site <name>'", "required"}},
		{"empty block", "costlb {\n}", []string{"missing 'site <name>'"}},
		{"empty braces", "costlb {}", []string{`unexpected argument "{}"`}},
		{"argument", "costlb east {\n site east\n}", []string{`unexpected argument "east"`, "costlb { site <name> ... }"}},
		{"no site", "costlb {\n link east west 5\n}", []string{"missing 'site <name>'"}},
		{"empty site name", "costlb {\n site \"\"\n}", []string{"missing 'site <name>'"}},
		{"site without name", "costlb {\n site\n}", []string{"site takes exactly one name", "got 0"}},
		{"site with two names", "costlb {\n site east west\n}", []string{"site takes exactly one name", `"west"`}},
		{"site twice", "costlb {\n site east\n site west\n}", []string{"site given twice", `"east"`, `"west"`, "exactly one site"}},
		{"unknown option", "costlb {\n site east\n region eu\n}", []string{`unknown option "region"`, "site <name>, link <site> <site> [<cost>|auto]"}},
		{"option named like the handler's", "costlb {\n site east\n backend east 10.0.0.1:1\n}", []string{`unknown option "backend"`, "allowed: site"}},
		{"link with one site", "costlb {\n site east\n link east\n}", []string{"link takes <site> <site> [<cost>]", "got 1", `"east"`}},
		{"link without sites", "costlb {\n site east\n link\n}", []string{"link takes <site> <site> [<cost>]", "got 0"}},
		{"link with extra argument", "costlb {\n site east\n link east west 3 4\n}", []string{"link takes <site> <site> [<cost>]", "got 4", `"4"`}},
		{"local site named by no link", "costlb {\n site eats\n link east west 5\n}",
			[]string{`the local site "eats" is named by no link`, `the links name "east", "west"`, `did you mean "east"?`}},
		{"cost 0", "costlb {\n site east\n link east west 0\n}", []string{"link east west", `cost "0"`, costRule}},
		{"cost negative", "costlb {\n site east\n link east west -3\n}", []string{`cost "-3"`, costRule}},
		{"cost above max", "costlb {\n site east\n link east west 2147483648\n}", []string{`cost "2147483648"`, costRule}},
		{"cost huge", "costlb {\n site east\n link east west 99999999999\n}", []string{`cost "99999999999"`, costRule}},
		{"cost beyond int64", "costlb {\n site east\n link east west 99999999999999999999999\n}", []string{`cost "99999999999999999999999"`, costRule}},
		{"cost fraction", "costlb {\n site east\n link east west 1.5\n}", []string{`cost "1.5"`, costRule}},
		{"cost exponent too large", "costlb {\n site east\n link east west 1e10\n}", []string{`cost "1e10" is too large`, costRule}},
		{"cost fraction float64 rounds", "costlb {\n site east\n link east west 0.99999999999999999\n}", []string{`cost "0.99999999999999999" is not a whole number`, costRule}},
		{"cost leading zero", "costlb {\n site east\n link east west 05\n}", []string{`cost "05" is not a number`, costRule}},
		{"cost word", "costlb {\n site east\n link east west abc\n}", []string{`cost "abc"`, costRule}},
		{"cost hex", "costlb {\n site east\n link east west 0x10\n}", []string{`cost "0x10"`, costRule}},
		{"cost empty", "costlb {\n site east\n link east west \"\"\n}", []string{`cost ""`, costRule}},
		{"cost with plus sign", "costlb {\n site east\n link east west +5\n}", []string{`cost "+5"`, costRule}},
		// the network is validated while parsing, so caddy adapt refuses it
		{"self link", "costlb {\n site a\n link a a\n}", []string{`"a"`, "itself"}},
		{"pair linked twice", "costlb {\n site a\n link a b\n link b a 3\n}", []string{`"a"`, `"b"`, "same pair"}},
		{"site name with control character", "costlb {\n site \"a\tb\"\n}", []string{"site name"}},
		{"site option with block", "costlb {\n site east {\n  zone a\n }\n}", []string{`"site"`, "does not take a block"}},
		{"link option with block", "costlb {\n site east\n link east west 3 {\n  latency 5ms\n }\n}", []string{`"link"`, "does not take a block"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := unmarshalApp(tt.input)
			checkErr(t, tt.input, err, tt.want)
		})
	}
}

// TestGlobalOptionTwiceHasLocation: the "given twice" error should point at
// the second costlb block, like every other Caddyfile error.
func TestGlobalOptionTwiceHasLocation(t *testing.T) {
	d := caddyfile.NewTestDispenser("costlb {\n site west\n}")
	_, err := module.ParseGlobalOption(d, "the first costlb block")
	if err == nil {
		t.Fatal("second costlb global option accepted")
	}
	if !strings.Contains(err.Error(), "given twice") {
		t.Errorf("error %q does not say the option is given twice", err)
	}
	if !strings.Contains(err.Error(), "Testfile:1") {
		t.Errorf("error %q has no location", err)
	}
}
