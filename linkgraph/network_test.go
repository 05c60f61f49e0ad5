package linkgraph

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestNewValidation(t *testing.T) {
	long := strings.Repeat("x", 129)
	tests := []struct {
		name  string
		local string
		links []Link
		want  []string // substrings of the error
	}{
		{"empty local", "", nil, []string{"local site name is empty", "1 to 128 bytes"}},
		{"empty local with links", "", []Link{ln("a", "b", 1)}, []string{"local site name is empty"}},
		{"local with space", "head office", nil, []string{"local site", `"head office"`, "whitespace"}},
		{"local too long", long, nil, []string{"local site", `"` + long + `"`, "too long (129 bytes)"}},
		{"local invalid UTF-8", "hq\xfe", nil, []string{"local site", `"hq\xfe"`, "not valid UTF-8"}},
		{"local control", "hq\x01", nil, []string{"local site", `"hq\x01"`, "control character"}},
		{"empty site in link", "hq", []Link{ln("hq", "", 1)}, []string{"link 0", "second site", "empty"}},
		{"empty first site", "hq", []Link{ln("hq", "a", 1), ln("", "a", 1)}, []string{"link 1", "first site", "empty"}},
		{"site too long", "hq", []Link{ln("hq", long, 1)}, []string{"link 0", `"` + long + `"`, "too long (129 bytes)"}},
		{"site invalid UTF-8", "hq", []Link{ln("hq", "\xff\xfe", 1)}, []string{"link 0", `"\xff\xfe"`, "not valid UTF-8"}},
		{"site whitespace", "hq", []Link{ln("east coast", "hq", 1)}, []string{"link 0", `"east coast"`, "whitespace"}},
		{"site newline", "hq", []Link{ln("hq", "east\n", 1)}, []string{"link 0", `"east\n"`, "whitespace"}},
		{"site control", "hq", []Link{ln("hq", "a\x1bb", 1)}, []string{"link 0", `"a\x1bb"`, "control character", "U+001B"}},
		{"self link", "hq", []Link{ln("hq", "east", 1), ln("east", "east", 1)}, []string{"link 1", `"east"`, "to itself", "two different sites"}},
		{"self link local", "hq", []Link{ln("hq", "hq", 0)}, []string{"link 0", `"hq"`, "to itself"}},
		{"duplicate pair", "hq", []Link{ln("east", "west", 1), ln("hq", "east", 1), ln("east", "west", 2)},
			[]string{"links 0", "and 2", `"east"`, `"west"`, "only once"}},
		{"duplicate pair reversed", "hq", []Link{ln("east", "west", 1), ln("west", "east", 1)},
			[]string{"links 0", "and 1", `"east"`, `"west"`, "only once"}},
		{"duplicate pair three times", "hq", []Link{ln("hq", "a", 1), ln("a", "hq", 2), ln("hq", "a", 3)},
			[]string{"links 0", "and 1", "and 2"}},
		{"negative cost", "hq", []Link{ln("hq", "east", -1)}, []string{"link 0", "cost -1", "must be an integer from 1 to 2147483647"}},
		{"cost too large", "hq", []Link{ln("hq", "east", 1), ln("hq", "west", MaxCost+1)},
			[]string{"link 1", "cost 2147483648", "must be an integer from 1 to 2147483647"}},
		{"cost min int64", "hq", []Link{ln("hq", "east", math.MinInt64)}, []string{"cost -9223372036854775808"}},
		{"cost max int64", "hq", []Link{ln("hq", "east", math.MaxInt64)}, []string{"cost 9223372036854775807"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, err := New(tt.local, tt.links)
			if err == nil {
				t.Fatalf("New = %v, want an error", n)
			}
			if n != nil {
				t.Errorf("New returned a network with the error %v", err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestNewReportsEveryProblem(t *testing.T) {
	_, err := New("head office", []Link{
		ln("a", "a", 1),
		ln("a", "b", -5),
		ln("b", "a", 1),
		ln("c", "d e", 1),
	})
	if err == nil {
		t.Fatal("want an error")
	}
	// errors.Join: one problem per line, each understandable on its own.
	var joined interface{ Unwrap() []error }
	if !errors.As(err, &joined) || len(joined.Unwrap()) != 5 {
		t.Fatalf("want 5 joined errors, got %v", err)
	}
	for _, w := range []string{`local site: site name "head office"`, `link 0 ("a"–"a" (cost 1)) links site "a" to itself`,
		"link 1", "cost -5", "links 1", "and 2", `link 3`, `"d e"`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}

func TestNewAccepts(t *testing.T) {
	tests := []struct {
		local string
		links []Link
	}{
		{"hq", nil},
		{"hq", []Link{}},
		{"hq", []Link{ln("east", "west", 3)}}, // local site not linked
		{"hq", []Link{ln("hq", "east", 0), ln("east", "west", MaxCost), ln("west", "hq", 1)}},
		{strings.Repeat("x", 128), []Link{ln(strings.Repeat("x", 128), "東京", 2)}},
	}
	for _, tt := range tests {
		if _, err := New(tt.local, tt.links); err != nil {
			t.Errorf("New(%q, %v): %v", tt.local, tt.links, err)
		}
	}
}

func TestNetworkAccessors(t *testing.T) {
	links := []Link{ln("west", "hq", 0), ln("hq", "east", 5), ln("north", "south", MaxCost)}
	n := mustNew(t, "hq", links)

	if n.Local() != "hq" {
		t.Errorf("Local() = %q", n.Local())
	}
	if got, want := n.Sites(), []string{"east", "hq", "north", "south", "west"}; !slices.Equal(got, want) {
		t.Errorf("Sites() = %q, want %q", got, want)
	}
	for _, s := range []string{"east", "hq", "north", "south", "west"} {
		if !n.HasSite(s) {
			t.Errorf("HasSite(%q) = false", s)
		}
	}
	for _, s := range []string{"", "HQ", "nowhere"} {
		if n.HasSite(s) {
			t.Errorf("HasSite(%q) = true", s)
		}
	}
	wantLinks := []Link{ln("west", "hq", 1), ln("hq", "east", 5), ln("north", "south", MaxCost)}
	if got := n.Links(); !slices.Equal(got, wantLinks) {
		t.Errorf("Links() = %v, want %v", got, wantLinks)
	}
	if links[0].Cost != 0 {
		t.Errorf("New changed its input: %v", links)
	}

	costs := []struct {
		a, b string
		cost int64
		ok   bool
	}{
		{"hq", "west", 1, true},
		{"west", "hq", 1, true},
		{"hq", "east", 5, true},
		{"east", "hq", 5, true},
		{"south", "north", MaxCost, true},
		{"east", "west", 0, false},
		{"hq", "hq", 0, false},
		{"hq", "nowhere", 0, false},
		{"nowhere", "hq", 0, false},
	}
	for _, c := range costs {
		if cost, ok := n.LinkCost(c.a, c.b); cost != c.cost || ok != c.ok {
			t.Errorf("LinkCost(%q, %q) = %d, %v, want %d, %v", c.a, c.b, cost, ok, c.cost, c.ok)
		}
	}

	// The returned slices are copies.
	n.Sites()[0] = "changed"
	n.Links()[0].Cost = 99
	if n.Sites()[0] != "east" || n.Links()[0].Cost != 1 {
		t.Error("Sites() or Links() exposes the network's own slices")
	}
	// Changing the input after New does not change the network.
	links[1].Cost = 77
	if c, _ := n.LinkCost("hq", "east"); c != 5 {
		t.Errorf("LinkCost after changing New's input = %d", c)
	}
	if got := n.String(); !strings.Contains(got, `"hq"`) || !strings.Contains(got, "5 sites, 3 links") {
		t.Errorf("String() = %q", got)
	}
}

func TestNetworkLocalOnly(t *testing.T) {
	n := mustNew(t, "hq", nil)
	if got := n.Sites(); !slices.Equal(got, []string{"hq"}) {
		t.Errorf("Sites() = %q", got)
	}
	if got := n.Links(); len(got) != 0 {
		t.Errorf("Links() = %v", got)
	}
}
