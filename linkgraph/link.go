// Package linkgraph models the costlb site network: sites joined by
// undirected links, each with an integer cost, seen from the local site.
//
// As in Skupper, the cost to reach a site is the sum of the link costs on the
// cheapest path from the local site; the local site itself costs 0. A
// [Network] is validated once by [New] and is immutable afterwards, so it can
// be shared by any number of services and goroutines. [Network.Paths] runs
// Dijkstra's algorithm from the local site, optionally with per-service
// link-cost overrides that never change the shared network.
//
// # Equal-cost paths
//
// Paths are deterministic and do not depend on the order of the links given
// to [New] or on the order of the two sites inside a link. Among the paths to
// a site, the chosen one is the first in this order:
//
//  1. lower total cost;
//  2. fewer hops (links crossed);
//  3. lexicographically smaller list of site names, compared hop by hop from
//     the local site, each name compared byte-wise (as Go's < on strings).
//
// # Costs
//
// Link costs are integers from 1 to [MaxCost]; a [Link] with Cost 0 gets the
// default cost 1. Path costs are int64 sums and cannot overflow. An Auto
// link (JSON "cost": "auto") counts [UnmeasuredCost] in the network; who
// measures it passes the measured cost to [Network.Paths] as an override.
package linkgraph

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode"
	"unicode/utf8"

	"github.com/costlb/costlb/costnum"
)

// MaxCost is the largest link cost. The smallest is 1, and a [Link] with
// Cost 0 gets the default cost 1.
const MaxCost = 2147483647

// DefaultCost is the cost of a [Link] whose Cost is 0 (not given).
const DefaultCost = 1

// MaxSiteNameLen is the maximum length of a site name, in bytes.
const MaxSiteNameLen = 128

// costRange describes the allowed link costs in error messages.
const costRange = "must be an integer from 1 to 2147483647"

// siteNameRule describes the allowed site names in error messages.
const siteNameRule = "a site name must be 1 to 128 bytes of valid UTF-8 with no whitespace or control characters"

// Link is an undirected link between two sites with a cost.
//
// In JSON it is {"between": ["east", "west"], "cost": 5}; "cost" may be
// omitted for the default cost 1. For Go callers, Cost 0 means "not given"
// and also stands for the default cost 1.
type Link struct {
	// Between names the two sites the link joins, in any order.
	Between [2]string `json:"between"`
	// Cost is the link cost, from 1 to MaxCost; 0 means the default, 1.
	// For an Auto link it is the cost to count until a measurement says
	// otherwise; 0 means UnmeasuredCost.
	Cost int64 `json:"cost,omitempty"`
	// Auto marks a link whose cost follows the round trip measured over
	// it (JSON "cost": "auto"). The network counts it at Cost; whoever
	// measures it computes paths with the measured cost as an override.
	Auto bool `json:"-"`
}

// UnmeasuredCost is the cost of an Auto link until its first
// measurement: the highest a measured cost can be, so that a failover
// link at 9999 stays the dearest.
const UnmeasuredCost = 9998

// AutoCost is the value of "cost" that marks an Auto link.
const AutoCost = "auto"

// String returns the link as the two quoted site names joined by an en
// dash, followed by the cost when it is set, e.g. "east"–"west" (cost 5).
// It is used in error messages.
func (l Link) String() string {
	s := QuoteName(l.Between[0]) + "–" + QuoteName(l.Between[1])
	if l.Auto {
		return s + " (cost auto)"
	}
	if l.Cost != 0 {
		s += " (cost " + strconv.FormatInt(l.Cost, 10) + ")"
	}
	return s
}

// UnmarshalJSON decodes a link strictly. The value must be a JSON object
// with only the fields "between" and "cost", each at most once. "between"
// must be an array of exactly 2 strings. "cost", when present, must be a
// JSON number with a whole value from 1 to 2147483647 (5, 5.0 and 5e0 are
// the same), read from its decimal digits: 0, negative numbers, fractions
// (0.99999999999999999 included, which float64 would round to 1), strings,
// null and out-of-range numbers are errors quoting the offending value. An
// absent cost decodes as 0, which stands for the default cost 1. The site names themselves are checked by [New].
func (l *Link) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	tok, err := dec.Token()
	if err != nil {
		return fmt.Errorf("link %s: invalid JSON: %w", snippet(b), err)
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return fmt.Errorf(`link must be a JSON object like {"between": ["east", "west"], "cost": 5}, got %s`, snippet(b))
	}
	var out Link
	var haveBetween, haveCost bool
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return fmt.Errorf("link %s: invalid JSON: %w", snippet(b), err)
		}
		key, ok := tok.(string)
		if !ok {
			return fmt.Errorf("link %s: invalid JSON object", snippet(b))
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return fmt.Errorf("link %s: invalid JSON: %w", snippet(b), err)
		}
		switch key {
		case "between":
			if haveBetween {
				return errors.New(`link has "between" more than once`)
			}
			haveBetween = true
			if out.Between, err = parseBetween(raw); err != nil {
				return err
			}
		case "cost":
			if haveCost {
				return errors.New(`link has "cost" more than once`)
			}
			haveCost = true
			if string(bytes.TrimSpace(raw)) == `"`+AutoCost+`"` {
				out.Auto = true
				continue
			}
			if out.Cost, err = parseCost(raw); err != nil {
				return err
			}
		default:
			return fmt.Errorf(`link has unknown field %s: the allowed fields are "between" and "cost"`, QuoteName(key))
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return fmt.Errorf("link %s: invalid JSON: %w", snippet(b), err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return fmt.Errorf("link %s: unexpected data after the object", snippet(b))
	}
	if !haveBetween {
		return fmt.Errorf(`link %s has no "between": it must name the 2 sites it joins, like {"between": ["east", "west"]}`, snippet(b))
	}
	*l = out
	return nil
}

// MarshalJSON encodes the link as UnmarshalJSON reads it: an Auto link
// with "cost": "auto", another with its cost unless it is 0.
func (l Link) MarshalJSON() ([]byte, error) {
	type wire struct {
		Between [2]string `json:"between"`
		Cost    any       `json:"cost,omitempty"`
	}
	w := wire{Between: l.Between}
	switch {
	case l.Auto:
		w.Cost = AutoCost
	case l.Cost != 0:
		w.Cost = l.Cost
	}
	return json.Marshal(w)
}

// parseBetween decodes the "between" field: an array of exactly 2 strings.
func parseBetween(raw json.RawMessage) ([2]string, error) {
	var sites [2]string
	bad := func() ([2]string, error) {
		return sites, fmt.Errorf(`link "between" must be an array of exactly 2 site names, got %s`, snippet(raw))
	}
	if len(raw) == 0 || raw[0] != '[' {
		return bad()
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(raw, &elems); err != nil || len(elems) != 2 {
		return bad()
	}
	for i, e := range elems {
		if len(e) == 0 || e[0] != '"' {
			return bad()
		}
		if err := json.Unmarshal(e, &sites[i]); err != nil {
			return bad()
		}
	}
	return sites, nil
}

// parseCost decodes the "cost" field: a JSON number whose exact decimal
// value is a whole number from 1 to MaxCost (costnum's one syntax for
// costs). The error quotes the value and says why it is refused.
func parseCost(raw json.RawMessage) (int64, error) {
	c, err := costnum.Parse(string(bytes.TrimSpace(raw)), 1, MaxCost)
	if err != nil {
		return 0, fmt.Errorf("link cost %s %v: %s, or \"auto\" for a link of the local site", snippet(raw), err, costRange)
	}
	return c, nil
}

// CheckSiteName reports whether name is a valid site name: 1 to
// [MaxSiteNameLen] bytes of valid UTF-8 with no whitespace or control
// characters. The error quotes the name and says what is wrong with it.
func CheckSiteName(name string) error {
	if name == "" {
		return errors.New("site name is empty: " + siteNameRule)
	}
	if len(name) > MaxSiteNameLen {
		return fmt.Errorf("site name %s is too long (%d bytes): %s", QuoteName(name), len(name), siteNameRule)
	}
	for i := 0; i < len(name); {
		r, size := utf8.DecodeRuneInString(name[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			return fmt.Errorf("site name %s is not valid UTF-8 (byte 0x%02x at offset %d): %s", QuoteName(name), name[i], i, siteNameRule)
		case unicode.IsSpace(r):
			return fmt.Errorf("site name %s contains whitespace (%U at byte %d): %s", QuoteName(name), r, i, siteNameRule)
		case unicode.IsControl(r):
			return fmt.Errorf("site name %s contains a control character (%U at byte %d): %s", QuoteName(name), r, i, siteNameRule)
		}
		i += size
	}
	return nil
}

// QuoteName quotes a site or service name for messages; an absurdly long
// name is cut short, with its length given.
func QuoteName(name string) string {
	const keep = 160
	if len(name) <= keep {
		return strconv.Quote(name)
	}
	cut := keep
	for cut > 0 && !utf8.RuneStart(name[cut]) {
		cut--
	}
	return strconv.Quote(name[:cut]) + "… (" + strconv.Itoa(len(name)) + " bytes)"
}

// snippet returns raw JSON for messages, cut short when long.
func snippet(raw []byte) string {
	const keep = 80
	raw = bytes.TrimSpace(raw)
	if len(raw) <= keep {
		return string(raw)
	}
	cut := keep
	for cut > 0 && !utf8.RuneStart(raw[cut]) {
		cut--
	}
	return string(raw[:cut]) + "…"
}

// Interface guards
var (
	_ json.Unmarshaler = (*Link)(nil)
	_ json.Marshaler   = Link{}
	_ fmt.Stringer     = Link{}
)
