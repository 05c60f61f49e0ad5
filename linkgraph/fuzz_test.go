package linkgraph

import (
	"encoding/json"
	"math"
	"slices"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// fuzzCost maps a byte to a link cost, valid or not.
func fuzzCost(b byte) int64 {
	switch b % 10 {
	case 0:
		return 0
	case 1:
		return MaxCost
	case 2:
		return -1
	case 3:
		return MaxCost + 1
	case 4:
		return math.MinInt64
	case 5:
		return math.MaxInt64
	}
	return int64(b % 4)
}

// refSiteOK is an independent statement of the site name rules.
func refSiteOK(s string) bool {
	if len(s) < 1 || len(s) > 128 || !utf8.ValidString(s) {
		return false
	}
	return !strings.ContainsFunc(s, func(r rune) bool { return unicode.IsSpace(r) || unicode.IsControl(r) })
}

// refValid reports whether New should accept local and links.
func refValid(local string, links []Link) bool {
	ok := refSiteOK(local)
	pairs := map[[2]string]bool{}
	for _, l := range links {
		a, b := l.Between[0], l.Between[1]
		if !refSiteOK(a) || !refSiteOK(b) || a == b || l.Cost < 0 || l.Cost > MaxCost {
			ok = false
			continue
		}
		if b < a {
			a, b = b, a
		}
		if pairs[[2]string{a, b}] {
			ok = false
		}
		pairs[[2]string{a, b}] = true
	}
	return ok
}

// FuzzNew feeds New arbitrary networks: data is either a JSON list of links
// (when it starts with '[') or records of 3 bytes (site, site, cost) picking
// from a pool of valid and invalid site names. New must not panic, must
// fail exactly when the input breaks a rule, and a network it builds must
// satisfy every invariant.
func FuzzNew(f *testing.F) {
	f.Add("hq", []byte(`[{"between":["hq","east"],"cost":3},{"between":["east","west"]}]`))
	f.Add("hq", []byte(`[{"between":["hq","hq"]}]`))
	f.Add("", []byte(`[]`))
	f.Add("a b", []byte{0, 1, 6})
	f.Add("a", []byte{0, 1, 7, 1, 2, 8, 2, 0, 9, 0, 2, 0})
	f.Add("a", []byte{0, 1, 7, 1, 0, 8})
	f.Add("hq", []byte{10, 4, 3, 5, 6, 7, 8, 9, 1})

	pool := []string{"a", "b", "c", "d", "", "a b", "x\x00y", "\xff", strings.Repeat("l", 129), "é", "ok-site"}
	f.Fuzz(func(t *testing.T, local string, data []byte) {
		var links []Link
		if len(data) > 0 && data[0] == '[' {
			if err := json.Unmarshal(data, &links); err != nil {
				if err.Error() == "" {
					t.Fatal("empty error message")
				}
				return
			}
		} else {
			pool := append(slices.Clone(pool), local)
			for i := 0; i+2 < len(data) && len(links) < 64; i += 3 {
				links = append(links, ln(pool[int(data[i])%len(pool)], pool[int(data[i+1])%len(pool)], fuzzCost(data[i+2])))
			}
		}
		input := slices.Clone(links)
		n, err := New(local, links)
		if !slices.Equal(input, links) {
			t.Fatal("New changed its input")
		}
		if want := refValid(local, links); (err == nil) != want {
			t.Fatalf("New(%q, %v) error = %v, want valid = %v", local, links, err, want)
		}
		if err != nil {
			if n != nil || err.Error() == "" {
				t.Fatalf("New returned %v, %q", n, err)
			}
			return
		}

		// Sites: the local site plus every linked site, sorted, no repeats.
		want := []string{local}
		for _, l := range links {
			want = append(want, l.Between[0], l.Between[1])
		}
		slices.Sort(want)
		want = slices.Compact(want)
		if got := n.Sites(); !slices.Equal(got, want) {
			t.Fatalf("Sites() = %q, want %q", got, want)
		}
		if n.Local() != local || !n.HasSite(local) {
			t.Fatalf("Local() = %q, HasSite(local) = %v", n.Local(), n.HasSite(local))
		}
		got := n.Links()
		if len(got) != len(links) {
			t.Fatalf("Links() = %v, want %v", got, links)
		}
		for i, l := range links {
			wantCost := l.Cost
			if wantCost == 0 {
				wantCost = 1
			}
			if got[i].Between != l.Between || got[i].Cost != wantCost {
				t.Fatalf("Links()[%d] = %v, want %v with cost %d", i, got[i], l, wantCost)
			}
			for _, pair := range [][2]string{l.Between, {l.Between[1], l.Between[0]}} {
				if c, ok := n.LinkCost(pair[0], pair[1]); !ok || c != wantCost {
					t.Fatalf("LinkCost(%q, %q) = %d, %v, want %d", pair[0], pair[1], c, ok, wantCost)
				}
			}
			if !n.HasSite(l.Between[0]) || !n.HasSite(l.Between[1]) {
				t.Fatalf("HasSite false for a site of link %v", l)
			}
		}
		p, err := n.Paths(nil)
		if err != nil {
			t.Fatal(err)
		}
		checkPaths(t, n, p, nil)
		if len(want) <= 7 {
			checkAgainstBruteForce(t, n, p, nil)
		}
		// Every link can be overridden once.
		if ovs := n.Links(); len(ovs) > 0 {
			for i := range ovs {
				ovs[i].Cost = MaxCost - ovs[i].Cost + 1
			}
			p, err := n.Paths(ovs)
			if err != nil {
				t.Fatal(err)
			}
			checkPaths(t, n, p, ovs)
		}
	})
}

// FuzzPaths checks Paths against a brute-force enumeration of every simple
// path on small graphs of at most 7 sites, with and without overrides.
// data is records of 3 bytes: a link (site, site, cost) when the first byte
// is below 0x80, else an override of link number (second byte) with cost
// (third byte).
func FuzzPaths(f *testing.F) {
	f.Add(uint8(0), []byte{0, 1, 1, 1, 2, 1, 0, 2, 3})
	f.Add(uint8(2), []byte{0, 1, 1, 1, 3, 1, 0, 2, 1, 2, 3, 1, 0x80, 0, 9})
	f.Add(uint8(0), []byte{0, 1, 255, 1, 2, 255, 2, 3, 255, 0, 3, 254})
	f.Add(uint8(6), []byte{0, 1, 1, 2, 3, 1, 4, 5, 2, 5, 6, 1, 0xc1, 1, 3})
	f.Add(uint8(3), []byte{})

	names := []string{"hq", "b", "a", "z", "m", "c", "y"}
	cost := func(b byte) int64 {
		switch {
		case b == 0:
			return 0 // default 1
		case b >= 250:
			return MaxCost - int64(255-b)
		}
		return 1 + int64(b%4)
	}
	f.Fuzz(func(t *testing.T, localSite uint8, data []byte) {
		local := names[int(localSite)%len(names)]
		var links, overrides []Link
		linked := map[[2]string]bool{}
		overridden := map[int]bool{}
		for i := 0; i+2 < len(data) && i < 3*64; i += 3 {
			if data[i] < 0x80 {
				a, b := names[int(data[i])%len(names)], names[int(data[i+1])%len(names)]
				key := [2]string{min(a, b), max(a, b)}
				if a == b || linked[key] {
					continue
				}
				linked[key] = true
				links = append(links, ln(a, b, cost(data[i+2])))
				continue
			}
			if len(links) == 0 {
				continue
			}
			li := int(data[i+1]) % len(links)
			if overridden[li] {
				continue
			}
			overridden[li] = true
			o := ln(links[li].Between[0], links[li].Between[1], cost(data[i+2]))
			if data[i]&0x40 != 0 {
				o.Between[0], o.Between[1] = o.Between[1], o.Between[0]
			}
			overrides = append(overrides, o)
		}

		n, err := New(local, links)
		if err != nil {
			t.Fatal(err)
		}
		base, err := n.Paths(nil)
		if err != nil {
			t.Fatal(err)
		}
		checkPaths(t, n, base, nil)
		checkAgainstBruteForce(t, n, base, nil)
		baseRoutes := base.Routes()

		p, err := n.Paths(overrides)
		if err != nil {
			t.Fatal(err)
		}
		checkPaths(t, n, p, overrides)
		checkAgainstBruteForce(t, n, p, overrides)

		// The overrides changed nothing shared, and the same links in
		// reverse order give the same routes.
		again, err := n.Paths(nil)
		if err != nil {
			t.Fatal(err)
		}
		if !routesEqual(again.Routes(), baseRoutes) {
			t.Fatal("Paths(nil) changed after Paths with overrides")
		}
		rev := slices.Clone(links)
		slices.Reverse(rev)
		for i := range rev {
			rev[i].Between[0], rev[i].Between[1] = rev[i].Between[1], rev[i].Between[0]
		}
		n2, err := New(local, rev)
		if err != nil {
			t.Fatal(err)
		}
		p2, err := n2.Paths(overrides)
		if err != nil {
			t.Fatal(err)
		}
		if !routesEqual(p2.Routes(), p.Routes()) {
			t.Fatal("reversed link order gives different routes")
		}
	})
}

func routesEqual(a, b []Route) bool {
	return slices.EqualFunc(a, b, routeEqual)
}
