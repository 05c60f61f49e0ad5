package linkgraph

import (
	"errors"
	"slices"
	"strconv"
	"strings"
)

// LocalLinked reports whether a link names the local site: without one,
// the local site reaches no other site.
func (n *Network) LocalLinked() bool {
	return n.adjStart[n.localIdx+1] > n.adjStart[n.localIdx]
}

// maxSuggestDistance is how far (in edits) a name may be from the local
// site's to be suggested in its stead.
const maxSuggestDistance = 2

// UnlinkedLocal returns nil when a link names the local site. Otherwise it
// returns an error that says so, lists the sites the links name, and
// suggests the one closest to the local site's name (of those and of also,
// other names the config uses, such as backend sites) when it is at most 2
// edits away: "site eats" among links of "east" is a typo, not a site that
// cannot be reached.
func (n *Network) UnlinkedLocal(also ...string) error {
	if n.LocalLinked() {
		return nil
	}
	var named []string // the sites the links name: every site but the local one
	for _, s := range n.names {
		if s != n.local {
			named = append(named, s)
		}
	}
	var b strings.Builder
	b.WriteString("the local site " + QuoteName(n.local) + " is named by no link")
	if len(named) == 0 {
		b.WriteString(" (there are no links), so it reaches no other site")
	} else {
		b.WriteString(", so it reaches no other site; the links name " + quoteList(named, 20))
	}
	if s := closest(n.local, slices.Concat(named, also)); s != "" {
		b.WriteString("; did you mean " + QuoteName(s) + "?")
	}
	b.WriteString(" (name the local site as the links do, or link it to the other sites)")
	return errors.New(b.String())
}

// quoteList quotes names, at most max of them, then says how many more.
func quoteList(names []string, max int) string {
	var q []string
	for i, s := range names {
		if i == max {
			q = append(q, "and "+strconv.Itoa(len(names)-max)+" more")
			break
		}
		q = append(q, QuoteName(s))
	}
	return strings.Join(q, ", ")
}

// closest returns the name of candidates closest to name, at most
// maxSuggestDistance edits away and not name itself; the first in byte
// order among equally close ones; "" if none is close.
func closest(name string, candidates []string) string {
	best, bestDist := "", maxSuggestDistance+1
	for _, c := range candidates {
		if c == name {
			continue
		}
		d := editDistance(name, c, bestDist)
		if d < bestDist || d == bestDist && d <= maxSuggestDistance && c < best {
			best, bestDist = c, d
		}
	}
	if bestDist > maxSuggestDistance {
		return ""
	}
	return best
}

// editDistance returns the Levenshtein distance between a and b, counted
// in runes (insertions, deletions, substitutions), or limit if it is limit
// or more.
func editDistance(a, b string, limit int) int {
	ra, rb := []rune(a), []rune(b)
	if d := len(ra) - len(rb); d >= limit || -d >= limit {
		return limit
	}
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(rb); j++ {
			sub := prev[j-1]
			if ra[i-1] != rb[j-1] {
				sub++
			}
			cur[j] = min(sub, prev[j]+1, cur[j-1]+1)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= limit {
			return limit
		}
		prev, cur = cur, prev
	}
	return min(prev[len(rb)], limit)
}
