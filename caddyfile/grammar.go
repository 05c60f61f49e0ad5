// Package caddyfile holds the Caddyfile grammar that costlb's modules share:
// link costs and link lines, service names, costlb's own option values,
// backend lines with caddy-l4's upstream options, and caddy-l4's proxy
// options. Each module's UnmarshalCaddyfile (package module) documents its
// syntax and builds on these helpers. caddy-l4's options are parsed by
// caddy-l4's own parsers, so they keep exactly caddy-l4's meaning.
//
// Every helper that reads from a Dispenser takes who, the block it parses
// for ("costlb", "lb_policy cost"), and starts its errors with it. Cost
// parses one string and its error starts with the cost; its callers add
// where the cost was.
package caddyfile

import (
	"fmt"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/costlb/costlb/costnum"
	"github.com/costlb/costlb/linkgraph"
)

// Cost parses a link cost: a whole number from 1 to 2147483647, written
// as in JSON (costnum's one syntax for costs: 5, 5.0 and 5e0 are all 5).
func Cost(s string) (int64, error) {
	c, err := costnum.Parse(s, 1, linkgraph.MaxCost)
	if err != nil {
		return 0, fmt.Errorf("cost %q %v: must be an integer from 1 to %d", s, err, linkgraph.MaxCost)
	}
	return c, nil
}

// Link parses "link <site> <site> [<cost>|auto]" at d's current token,
// the option name; a link without a cost has cost 0 (the network's
// default); "auto" makes an Auto link, whose cost follows the measured
// round trip.
func Link(d *caddyfile.Dispenser, who string) (linkgraph.Link, error) {
	return link(d, who, false)
}

// LinkCost parses "link_cost <site> <site> <cost>" at d's current token:
// a service's override of a link's cost, which needs the cost.
func LinkCost(d *caddyfile.Dispenser, who string) (linkgraph.Link, error) {
	return link(d, who, true)
}

func link(d *caddyfile.Dispenser, who string, needCost bool) (linkgraph.Link, error) {
	opt, args := d.Val(), d.RemainingArgs()
	var l linkgraph.Link
	switch {
	case needCost && len(args) != 3:
		return l, d.Errf("%s: %s takes <site> <site> <cost>, got %d arguments %q", who, opt, len(args), args)
	case len(args) < 2 || len(args) > 3:
		return l, d.Errf("%s: %s takes <site> <site> [<cost>], got %d arguments %q", who, opt, len(args), args)
	}
	l.Between = [2]string{args[0], args[1]}
	if len(args) == 3 && args[2] == linkgraph.AutoCost {
		if needCost {
			return l, d.Errf("%s: %s %s %s auto: a %s sets a number; auto is for the links of the costlb global option (link <site> <site> auto)", who, opt, args[0], args[1], opt)
		}
		l.Auto = true
		return l, nil
	}
	if len(args) == 3 {
		c, err := Cost(args[2])
		if err != nil {
			return l, d.Errf("%s: %s %s %s: %w", who, opt, args[0], args[1], err)
		}
		l.Cost = c
	}
	return l, nil
}

// Name parses "name <service name>" at d's current token; current is the
// name set so far, refused if not "".
func Name(d *caddyfile.Dispenser, who, current string) (string, error) {
	if current != "" {
		return "", d.Errf("%s: name given twice (%q already)", who, current)
	}
	args := d.RemainingArgs()
	if len(args) != 1 || args[0] == "" {
		return "", d.Errf("%s: name takes exactly one non-empty value, got %q", who, args)
	}
	return args[0], nil
}

// PositiveDuration parses "<option> <duration>" at d's current token, for
// an option of costlb's own that is given at most once; set says whether
// it was given before.
func PositiveDuration(d *caddyfile.Dispenser, who string, set bool) (time.Duration, error) {
	opt, arg, err := oneValue(d, who, set)
	if err != nil {
		return 0, err
	}
	dur, err := caddy.ParseDuration(arg)
	if err != nil || dur <= 0 {
		return 0, d.Errf("%s: %s %q: must be a positive duration, e.g. 3s", who, opt, arg)
	}
	return dur, nil
}

// PositiveInt parses "<option> <integer>" at d's current token, for an
// option of costlb's own that is given at most once.
func PositiveInt(d *caddyfile.Dispenser, who string, set bool) (int, error) {
	opt, arg, err := oneValue(d, who, set)
	if err != nil {
		return 0, err
	}
	n, err := strconv.Atoi(arg)
	if err != nil || n < 1 {
		return 0, d.Errf("%s: %s %q: must be an integer, 1 or more", who, opt, arg)
	}
	return n, nil
}

// oneValue reads the single value of the option at d's current token.
func oneValue(d *caddyfile.Dispenser, who string, set bool) (opt, arg string, err error) {
	opt, args := d.Val(), d.RemainingArgs()
	if len(args) != 1 {
		return "", "", d.Errf("%s: %s takes one value, got %d arguments %q", who, opt, len(args), args)
	}
	if set {
		return "", "", d.Errf("%s: %s given twice", who, opt)
	}
	return opt, args[0], nil
}

// NoBlock refuses a block after the option opt, whose arguments d has read.
func NoBlock(d *caddyfile.Dispenser, who, opt string) error {
	if d.NextBlock(d.Nesting()) {
		return d.Errf("%s: option %q does not take a block", who, opt)
	}
	return nil
}
