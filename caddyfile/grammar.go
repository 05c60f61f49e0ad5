package caddyfile

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/costlb/costlb/linkgraph"
)

// NameOption parses the "name <service name>" option at d's current token
// for the block who ("costlb", "lb_policy cost"); current is the name set
// so far, refused if not "".
func NameOption(d *caddyfile.Dispenser, who, current string) (string, error) {
	if current != "" {
		return "", d.Errf("%s: name given twice (%q already)", who, current)
	}
	args := d.RemainingArgs()
	if len(args) != 1 || args[0] == "" {
		return "", d.Errf("%s: name takes exactly one non-empty value, got %q", who, args)
	}
	return args[0], nil
}

// LinkCostOption parses "link_cost <site> <site> <cost>" at d's current
// token for the block who.
func LinkCostOption(d *caddyfile.Dispenser, who string) (linkgraph.Link, error) {
	args := d.RemainingArgs()
	if len(args) != 3 {
		return linkgraph.Link{}, d.Errf("%s: link_cost takes <site> <site> <cost>, got %d arguments %q", who, len(args), args)
	}
	l, err := parseLink("link_cost", args)
	if err != nil {
		return linkgraph.Link{}, d.Errf("%s: %v", who, err)
	}
	return l, nil
}
