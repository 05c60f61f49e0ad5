package linkgraph

import (
	"strings"
	"testing"
)

func TestUnlinkedLocal(t *testing.T) {
	tests := []struct {
		name  string
		local string
		links []Link
		also  []string
		want  []string // substrings; none means nil
		not   []string
	}{
		{"linked", "east", []Link{ln("east", "west", 5)}, nil, nil, nil},
		{"typo among the links", "eats", []Link{ln("east", "west", 5)}, nil,
			[]string{`the local site "eats" is named by no link`, `the links name "east", "west"`, `did you mean "east"?`}, nil},
		{"no close name", "zzz", []Link{ln("east", "west", 5)}, nil,
			[]string{`the local site "zzz" is named by no link`, `"east", "west"`}, []string{"did you mean"}},
		{"no links, a backend site close", "eats", nil, []string{"east"},
			[]string{`the local site "eats" is named by no link (there are no links)`, `did you mean "east"?`}, nil},
		{"closest of several", "nort", []Link{ln("east", "west", 5), ln("west", "north", 1), ln("west", "nord", 1)}, []string{"norte"},
			[]string{`did you mean "nord"?`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := mustNew(t, tt.local, tt.links)
			err := n.UnlinkedLocal(tt.also...)
			if len(tt.want) == 0 {
				if err != nil || !n.LocalLinked() {
					t.Fatalf("UnlinkedLocal() = %v, LocalLinked() = %v; want nil, true", err, n.LocalLinked())
				}
				return
			}
			if err == nil || n.LocalLinked() {
				t.Fatalf("UnlinkedLocal() = nil or LocalLinked; want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			for _, w := range tt.not {
				if strings.Contains(err.Error(), w) {
					t.Errorf("error %q contains %q", err, w)
				}
			}
		})
	}
}

func TestUnlinkedLocalListsManySitesShortly(t *testing.T) {
	var links []Link
	for i := range 30 {
		links = append(links, ln("hub", "s"+strings.Repeat("x", i), 1))
	}
	err := mustNew(t, "alone", links).UnlinkedLocal()
	if err == nil || !strings.Contains(err.Error(), "and 11 more") {
		t.Fatalf("error %v; want 20 of the 31 named sites and \"and 11 more\"", err)
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b  string
		limit int
		want  int
	}{
		{"east", "east", 3, 0},
		{"east", "eats", 3, 2},
		{"east", "west", 3, 2},
		{"east", "eas", 3, 1},
		{"", "ab", 3, 2},
		{"東京", "東都", 3, 1},
		{"kitten", "sitting", 10, 3},
		{"kitten", "sitting", 3, 3},
		{"a", "abcdef", 3, 3},
		{"north", "south", 3, 2},
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b, tt.limit); got != tt.want {
			t.Errorf("editDistance(%q, %q, %d) = %d, want %d", tt.a, tt.b, tt.limit, got, tt.want)
		}
	}
}

func TestClosest(t *testing.T) {
	if got := closest("eats", []string{"west", "east", "eats", "eatz"}); got != "eatz" {
		t.Errorf("closest = %q, want \"eatz\" (1 edit; itself is not a suggestion)", got)
	}
	if got := closest("ab", []string{"ba", "ac"}); got != "ac" {
		t.Errorf("closest = %q, want \"ac\" (1 edit before 2)", got)
	}
	if got := closest("ab", []string{"xb", "ax"}); got != "ax" {
		t.Errorf("closest = %q, want \"ax\" (equally close: first in byte order)", got)
	}
	if got := closest("abcdef", []string{"uvwxyz"}); got != "" {
		t.Errorf("closest = %q, want none", got)
	}
}
