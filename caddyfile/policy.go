package caddyfile

import (
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/costlb/costlb/linkgraph"
)

// PolicySite is one parsed site line of the HTTP policy: a site and the
// upstream addresses (or hosts) in it.
type PolicySite struct {
	// Site is the site the upstreams run in.
	Site string
	// Upstreams are the addresses or hosts named on the line, as written.
	Upstreams []string
}

// Policy is the parsed "lb_policy cost" block of a reverse_proxy.
type Policy struct {
	// Name is the service name, "" when not given.
	Name string
	// Sites place upstreams in sites; upstreams not named are local.
	Sites []PolicySite
	// LinkCosts are the service's link cost overrides.
	LinkCosts []linkgraph.Link
}

// ParsePolicy parses the cost selection policy of reverse_proxy, from its
// name on. Syntax:
//
//	lb_policy cost [{
//		name <service name>
//		site <site> <upstream address or host...>
//		link_cost <site> <site> <cost>
//	}]
//
// Upstreams that no site line names run in the local site.
func ParsePolicy(d *caddyfile.Dispenser) (*Policy, error) {
	p := new(Policy)
	d.Next() // consume policy name
	if d.NextArg() {
		return nil, d.Errf("lb_policy cost: unexpected argument %q; options go in a block: lb_policy cost { site <site> <upstream...> }", d.Val())
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		switch opt {
		case "name":
			name, err := NameOption(d, "lb_policy cost", p.Name)
			if err != nil {
				return nil, err
			}
			p.Name = name
		case "site":
			args := d.RemainingArgs()
			if len(args) == 0 || args[0] == "" {
				return nil, d.Err("lb_policy cost: site needs a site name: site <site> <upstream...>")
			}
			if len(args) == 1 {
				return nil, d.Errf("lb_policy cost: site %s names no upstream: site <site> <upstream...>", args[0])
			}
			p.Sites = append(p.Sites, PolicySite{Site: args[0], Upstreams: args[1:]})
		case "link_cost":
			l, err := LinkCostOption(d, "lb_policy cost")
			if err != nil {
				return nil, err
			}
			p.LinkCosts = append(p.LinkCosts, l)
		default:
			return nil, d.Errf("lb_policy cost: unknown option %q; allowed: name, site, link_cost (reverse_proxy options such as health_uri or lb_try_duration go in the reverse_proxy block)", opt)
		}
		if d.NextBlock(d.Nesting()) {
			return nil, d.Errf("lb_policy cost: option %q does not take a block", opt)
		}
	}
	return p, nil
}
