package caddyfile

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/costlb/costlb/costlb"
	"github.com/costlb/costlb/costnum"
)

// WeightRule says what a weight may be, after a refused one.
var WeightRule = fmt.Sprintf("a weight is a whole number from 1 to %d (default 1)", costlb.MaxWeight)

// ParseWeight reads a weight from its JSON literal, as a cost is read
// (costnum: 3, 3.0 and 3e0 are 3). The error names the value and the
// allowed range; the caller adds where the value is.
func ParseWeight(raw json.RawMessage) (int64, error) {
	lit := string(bytes.TrimSpace(raw))
	w, err := costnum.Parse(lit, 1, costlb.MaxWeight)
	if err != nil {
		return 0, fmt.Errorf("weight %s %v: %s", lit, err, WeightRule)
	}
	return w, nil
}

// Weight parses "weight <n>" at d's current token, for the option named
// opt (given at most once: set tells whether it was). It returns the
// weight as its JSON literal.
func Weight(d *caddyfile.Dispenser, who string, set bool) (json.RawMessage, error) {
	_, arg, err := oneValue(d, who, set)
	if err != nil {
		return nil, err
	}
	return WeightLiteral(d, who, arg, `"weight"`)
}

// WeightLiteral checks the Caddyfile value arg of a weight, whose JSON
// field is jsonName, and returns it as a JSON literal.
func WeightLiteral(d *caddyfile.Dispenser, who, arg, jsonName string) (json.RawMessage, error) {
	w, err := costnum.Parse(arg, 1, costlb.MaxWeight)
	if err != nil {
		return nil, d.Errf("%s: weight %q %v: %s (JSON: %s)", who, arg, err, WeightRule, jsonName)
	}
	return json.RawMessage(fmt.Sprint(w)), nil
}

// takeWeight removes the backend option "weight <n>" from the backend
// block seg and checks it: caddy-l4's upstream parser would read it as its
// own weighted_round_robin weight, which reads 0 as "not given" and says
// nothing of the range. It returns the weight as a JSON literal, nil when
// the block has none.
func takeWeight(seg caddyfile.Segment, who string) (caddyfile.Segment, json.RawMessage, error) {
	var weight json.RawMessage
	rest, err := takeOption(seg, "weight", lineLen, func(opt caddyfile.Segment) error {
		d := caddyfile.NewDispenser(opt)
		d.Next()
		w, err := Weight(d, who, weight != nil)
		if err != nil {
			return err
		}
		weight = w
		return nil
	})
	return rest, weight, err
}

// lineLen is how many tokens of seg are on its first token's line.
func lineLen(seg caddyfile.Segment) int {
	n := 1
	for n < len(seg) && seg[n].Line == seg[0].Line && seg[n].File == seg[0].File {
		n++
	}
	return n
}
