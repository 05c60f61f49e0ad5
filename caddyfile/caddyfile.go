// Package caddyfile parses costlb's Caddyfile syntax: the global option that
// describes the site network, the layer4 handler block of one service and
// the reverse_proxy's "lb_policy cost" block.
// It returns plain values; the module package turns them into Caddy modules.
// caddy-l4's own parsers are reused for every caddy-l4 proxy and upstream
// option, so they keep exactly caddy-l4's meaning.
package caddyfile

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/mholt/caddy-l4/modules/l4proxy"

	"github.com/costlb/costlb/linkgraph"
)

// Global is the parsed global option: the local site and the links.
type Global struct {
	// Site is the local site.
	Site string
	// Links are the links of the network, as written.
	Links []linkgraph.Link
}

// ParseGlobal parses the global option. Syntax:
//
//	costlb {
//		site <name>
//		link <site> <site> [<cost>]
//	}
//
// Several costlb blocks are an error; use one.
func ParseGlobal(d *caddyfile.Dispenser) (Global, error) {
	var g Global
	d.Next() // consume option name
	if d.NextArg() {
		return g, d.Errf("costlb: unexpected argument %q; the site network goes in a block: costlb { site <name> ... }", d.Val())
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		switch opt {
		case "site":
			if g.Site != "" {
				return g, d.Errf("costlb: site given twice (%q, then %q): a Caddy instance runs in exactly one site", g.Site, d.RemainingArgs())
			}
			args := d.RemainingArgs()
			if len(args) != 1 {
				return g, d.Errf("costlb: site takes exactly one name, got %d arguments %q", len(args), args)
			}
			g.Site = args[0]
		case "link":
			args := d.RemainingArgs()
			l, err := parseLink("link", args)
			if err != nil {
				return g, d.Errf("costlb: %v", err)
			}
			g.Links = append(g.Links, l)
		default:
			return g, d.Errf("costlb: unknown option %q; allowed: site <name>, link <site> <site> [<cost>]", opt)
		}
		if d.NextBlock(d.Nesting()) {
			return g, d.Errf("costlb: option %q does not take a block", opt)
		}
	}
	if g.Site == "" {
		return g, d.Err("costlb: missing 'site <name>': the local site of this Caddy is required")
	}
	// validate the network now, so that caddy adapt refuses it too
	if _, err := linkgraph.New(g.Site, g.Links); err != nil {
		return g, d.Errf("costlb: %v", err)
	}
	return g, nil
}

// parseLink parses "<site> <site> [<cost>]" for link and link_cost.
func parseLink(opt string, args []string) (linkgraph.Link, error) {
	var l linkgraph.Link
	if len(args) < 2 || len(args) > 3 {
		return l, fmt.Errorf("%s takes <site> <site> [<cost>], got %d arguments %q", opt, len(args), args)
	}
	l.Between = [2]string{args[0], args[1]}
	if len(args) == 3 {
		c, err := ParseCost(args[2])
		if err != nil {
			return l, fmt.Errorf("%s %s %s: %v", opt, args[0], args[1], err)
		}
		l.Cost = c
	}
	return l, nil
}

// ParseCost parses a link cost: an integer from 1 to 2147483647.
func ParseCost(s string) (int64, error) {
	c, err := strconv.ParseInt(s, 10, 64)
	if err != nil || c < 1 || c > linkgraph.MaxCost || strings.TrimLeft(s, "0123456789") != "" {
		return 0, fmt.Errorf("cost %q: must be an integer from 1 to %d", s, linkgraph.MaxCost)
	}
	return c, nil
}

// Backend is one parsed backend address: its site and its caddy-l4
// upstream (with exactly one dial address).
type Backend struct {
	// Site is the site the backend runs in.
	Site string
	// Upstream is the caddy-l4 upstream, with one dial address.
	Upstream l4proxy.Upstream
	// Ready is the readiness URL of a gateway backend ("" for a plain one).
	Ready string
}

// Handler is the parsed handler block of one service.
type Handler struct {
	// Name is the service name, "" when not given.
	Name string
	// Backends are the backends, one per address.
	Backends []Backend
	// LinkCosts are the service's link cost overrides.
	LinkCosts []linkgraph.Link
	// Proxy carries the caddy-l4 proxy options (health checks, load
	// balancing without selection, PROXY protocol); its Upstreams are empty.
	Proxy l4proxy.Handler
	// DialTimeout is dial_timeout; 0 when not given.
	DialTimeout time.Duration
	// FailOnSilentClose is fail_on_silent_close; 0 when not given.
	FailOnSilentClose time.Duration
	// MaxSilentCloses is max_silent_closes; 0 when not given.
	MaxSilentCloses int
}

// proxyOptions are the caddy-l4 proxy options accepted inside costlb.
var proxyOptions = []string{
	"health_interval", "health_port", "health_timeout", "health_fall", "health_rise", "close_if_unhealthy",
	"fail_duration", "max_fails", "unhealthy_connection_count",
	"lb_try_duration", "lb_try_interval", "proxy_protocol",
}

// ParseHandler parses the costlb layer4 handler. Syntax:
//
//	costlb {
//		name <service name>
//		backend <site> <address...> [{
//			ready <url>    # a gateway: another costlb's /ready/<service>
//			<caddy-l4 upstream options: max_connections, tls, ...>
//		}]
//		link_cost <site> <site> <cost>
//
//		# caddy-l4 proxy options, with caddy-l4's meaning:
//		health_interval <duration>
//		health_port <int>
//		health_timeout <duration>
//		health_fall <int>
//		health_rise <int>
//		close_if_unhealthy
//		fail_duration <duration>
//		max_fails <int>
//		unhealthy_connection_count <int>
//		lb_try_duration <duration>
//		lb_try_interval <duration>
//		proxy_protocol <v1|v2>
//
//		# costlb's own:
//		dial_timeout <duration>
//		fail_on_silent_close <duration>
//		max_silent_closes <int>
//	}
//
// Each address of a backend line is its own backend in that site. lb_policy
// is refused: costlb is the selection policy.
func ParseHandler(d *caddyfile.Dispenser) (*Handler, error) {
	h := new(Handler)
	d.Next() // consume handler name
	head := d.Token()
	if d.NextArg() {
		return nil, d.Errf("costlb: unexpected argument %q; options go in a block: costlb { backend <site> <address...> }", d.Val())
	}
	var proxyTokens []caddyfile.Token
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		switch opt {
		case "name":
			name, err := NameOption(d, "costlb", h.Name)
			if err != nil {
				return nil, err
			}
			h.Name = name
		case "backend":
			bes, err := parseBackend(d)
			if err != nil {
				return nil, err
			}
			h.Backends = append(h.Backends, bes...)
			continue // parseBackend consumed the block
		case "link_cost":
			l, err := LinkCostOption(d, "costlb")
			if err != nil {
				return nil, err
			}
			h.LinkCosts = append(h.LinkCosts, l)
		case "dial_timeout", "fail_on_silent_close", "max_silent_closes":
			if err := parseOwnOption(d, h); err != nil {
				return nil, err
			}
		case "ready":
			return nil, d.Err("costlb: ready goes inside a backend block: backend <site> <address> { ready <url> }")
		case "lb_policy":
			return nil, d.Err("costlb: lb_policy is not allowed inside costlb: costlb is the selection policy (lowest path cost + live connections)")
		case "upstream":
			return nil, d.Err("costlb: use 'backend <site> <address...>' instead of 'upstream': every backend needs a site")
		default:
			if !slices.Contains(proxyOptions, opt) {
				return nil, d.Errf("costlb: unknown option %q; allowed: name, backend, link_cost, %s, %s", opt, strings.Join(proxyOptions, ", "), strings.Join(ownOptions, ", "))
			}
			if opt == "proxy_protocol" && d.CountRemainingArgs() != 1 {
				return nil, d.Errf("costlb: proxy_protocol takes one of v1, v2; got %q", d.RemainingArgs())
			}
			proxyTokens = append(proxyTokens, d.NextSegment()...)
			continue
		}
		if d.NextBlock(d.Nesting()) {
			return nil, d.Errf("costlb: option %q does not take a block", opt)
		}
	}
	if err := checkProxyDurations(proxyTokens); err != nil {
		return nil, err
	}
	if len(proxyTokens) > 0 {
		// Hand the caddy-l4 options to caddy-l4's own parser as the block of
		// a proxy handler, so they mean exactly what they mean there.
		last := proxyTokens[len(proxyTokens)-1].Line
		toks := append([]caddyfile.Token{head, {File: head.File, Line: head.Line, Text: "{"}}, proxyTokens...)
		toks = append(toks, caddyfile.Token{File: head.File, Line: last + 1, Text: "}"})
		if err := h.Proxy.UnmarshalCaddyfile(caddyfile.NewDispenser(toks)); err != nil {
			return nil, err
		}
	}
	return h, nil
}

// ownOptions are costlb's handler options beyond caddy-l4's.
var ownOptions = []string{"dial_timeout", "fail_on_silent_close", "max_silent_closes"}

// parseOwnOption parses one of costlb's own handler options, given once.
func parseOwnOption(d *caddyfile.Dispenser, h *Handler) error {
	opt := d.Val()
	args := d.RemainingArgs()
	if len(args) != 1 {
		return d.Errf("costlb: %s takes one value, got %d arguments %q", opt, len(args), args)
	}
	twice := d.Errf("costlb: %s given twice", opt)
	if opt == "max_silent_closes" {
		n, err := strconv.Atoi(args[0])
		if err != nil || n < 1 {
			return d.Errf("costlb: max_silent_closes %q: must be an integer, 1 or more", args[0])
		}
		if h.MaxSilentCloses != 0 {
			return twice
		}
		h.MaxSilentCloses = n
		return nil
	}
	dur, err := caddy.ParseDuration(args[0])
	if err != nil || dur <= 0 {
		return d.Errf("costlb: %s %q: must be a positive duration, e.g. 3s", opt, args[0])
	}
	dst := &h.DialTimeout
	if opt == "fail_on_silent_close" {
		dst = &h.FailOnSilentClose
	}
	if *dst != 0 {
		return twice
	}
	*dst = dur
	return nil
}

// parseBackend parses "backend <site> <address...> [{ upstream options }]"
// with caddy-l4's upstream parser and returns one Backend per address.
func parseBackend(d *caddyfile.Dispenser) ([]Backend, error) {
	seg := d.NextSegment()
	if len(seg) < 2 || seg[1].Text == "{" || seg[1].Text == "" {
		return nil, d.Errf("costlb: backend needs a site: backend <site> <address...>")
	}
	site := seg[1].Text
	seg, ready, err := takeReady(seg)
	if err != nil {
		return nil, d.Errf("costlb: backend %s: %v", site, err)
	}
	if err := checkUpstreamOptions(seg); err != nil {
		return nil, d.Errf("costlb: backend %s: %v", site, err)
	}
	// "backend <site> a b { ... }" is caddy-l4's "upstream a b { ... }";
	// caddy-l4's messages then speak of "proxy backend"
	toks := make([]caddyfile.Token, 0, len(seg)-1)
	toks = append(toks, seg[0])
	toks = append(toks, seg[2:]...)
	var u l4proxy.Upstream
	if err := u.UnmarshalCaddyfile(caddyfile.NewDispenser(toks)); err != nil {
		if len(u.Dial) == 0 && strings.Contains(err.Error(), "at least one") {
			return nil, d.Errf("costlb: backend %s has no address: backend <site> <address...>", site)
		}
		return nil, err
	}
	out := make([]Backend, 0, len(u.Dial))
	for _, addr := range u.Dial {
		one := u
		one.Dial = []string{addr}
		out = append(out, Backend{Site: site, Upstream: one, Ready: ready})
	}
	return out, nil
}

// takeReady removes costlb's own backend option, "ready <url>", from the
// backend block, which then holds only caddy-l4 upstream options, and
// returns its URL.
func takeReady(seg caddyfile.Segment) (caddyfile.Segment, string, error) {
	var ready string
	out := make(caddyfile.Segment, 0, len(seg))
	depth := 0
	for i := 0; i < len(seg); i++ {
		tok := seg[i]
		firstOnLine := i == 0 || seg[i-1].Line != tok.Line || seg[i-1].File != tok.File
		if depth == 1 && firstOnLine && tok.Text == "ready" {
			var args []string
			for i+1 < len(seg) && seg[i+1].Line == tok.Line && seg[i+1].File == tok.File {
				i++
				args = append(args, seg[i].Text)
			}
			if len(args) != 1 || args[0] == "{" {
				return nil, "", fmt.Errorf("ready takes exactly one URL (the gateway's costlb_status /ready/<service>), got %q", args)
			}
			if ready != "" {
				return nil, "", fmt.Errorf("ready given twice (%q, then %q): a backend has one readiness URL", ready, args[0])
			}
			ready = args[0]
			continue
		}
		switch tok.Text {
		case "{":
			depth++
		case "}":
			depth--
		}
		out = append(out, tok)
	}
	return out, ready, nil
}

// upstreamOptions are the caddy-l4 upstream options a backend block takes.
var upstreamOptions = []string{
	"dial", "local_addr", "resolver_preference", "max_connections",
	"tls", "tls_client_auth", "tls_curves", "tls_except_ports", "tls_insecure_skip_verify",
	"tls_renegotiation", "tls_server_name", "tls_timeout", "tls_trust_pool",
}

// checkUpstreamOptions names an unknown option in a backend block before
// caddy-l4's parser, whose message for it names no option.
func checkUpstreamOptions(seg caddyfile.Segment) error {
	d := caddyfile.NewDispenser(seg)
	d.Next()
	d.RemainingArgs()
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		if opt == "weight" {
			return fmt.Errorf("weight has no meaning in costlb: backends are chosen by path cost + live connections; use link_cost or sites to steer traffic")
		}
		if !slices.Contains(upstreamOptions, opt) {
			return fmt.Errorf("unknown option %q; allowed: ready, %s", opt, strings.Join(upstreamOptions, ", "))
		}
		d.RemainingArgs()
		for d.NextBlock(nesting + 1) {
			// tls_trust_pool takes a block of its own: skip it
		}
	}
	return nil
}
