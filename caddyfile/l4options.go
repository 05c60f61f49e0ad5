package caddyfile

import (
	"encoding/json"
	"fmt"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/mholt/caddy-l4/modules/l4proxy"
)

// Backend parses "backend <site> <address...> [{ <options> }]" at d's
// current token and consumes its block. The block takes costlb's own
// "ready <url>", which is returned, and caddy-l4's upstream options, parsed
// by caddy-l4's upstream parser into u, whose Dial holds every address of
// the line and of dial options. "weight <n>" is costlb's (takeWeight): it
// is returned as a JSON literal, nil if not given.
func Backend(d *caddyfile.Dispenser, who string) (site string, ready Ready, u l4proxy.Upstream, weight json.RawMessage, err error) {
	seg := d.NextSegment()
	if len(seg) < 2 || seg[1].Text == "{" || seg[1].Text == "" {
		return "", ready, u, nil, d.Errf("%s: backend needs a site: backend <site> <address...>", who)
	}
	site = seg[1].Text
	seg, weight, err = takeWeight(seg, who+": backend "+site)
	if err != nil {
		return "", ready, u, nil, err
	}
	seg, readySeg, err := takeReady(seg)
	if err != nil {
		return "", ready, u, nil, d.Errf("%s: backend %s: %w", who, site, err)
	}
	if readySeg != nil {
		if ready, err = parseReady(readySeg, who+": backend "+site); err != nil {
			return "", ready, u, nil, err
		}
	}
	if !hasAddress(seg) {
		return "", ready, u, nil, d.Errf("%s: backend %s has no address: backend <site> <address...>", who, site)
	}
	// "backend <site> a b { ... }" is caddy-l4's "upstream a b { ... }";
	// caddy-l4's messages then speak of "proxy backend"
	toks := append(caddyfile.Segment{seg[0]}, seg[2:]...)
	ud := caddyfile.NewDispenser(toks)
	if err := u.UnmarshalCaddyfile(ud); err != nil {
		return "", ready, u, nil, explain(ud, toks, err, who+": backend "+site, upstreamKnows,
			"ready <url> [{ ... }], weight <n> and caddy-l4's upstream options (max_connections, tls, local_addr, ...)")
	}
	return site, ready, u, weight, nil
}

// hasAddress says whether a backend segment names an address: on its line
// after the site, or in a dial option of its block. Without one, caddy-l4's
// parser would say "at least one proxy backend address", not which backend.
func hasAddress(seg caddyfile.Segment) bool {
	d := caddyfile.NewDispenser(seg)
	d.Next()
	if len(d.RemainingArgs()) > 1 { // the site, then addresses
		return true
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		if d.Val() == "dial" {
			return true
		}
		d.RemainingArgs()
		for d.NextBlock(nesting + 1) {
			// an option's own block: skip it
		}
	}
	return false
}

// takeReady removes costlb's own backend option, "ready <url> [{ ... }]",
// from the backend block, which then holds only caddy-l4 upstream options,
// and returns its tokens (nil if the block has none).
func takeReady(seg caddyfile.Segment) (caddyfile.Segment, caddyfile.Segment, error) {
	var ready caddyfile.Segment
	rest, err := takeOption(seg, "ready", readyLen, func(opt caddyfile.Segment) error {
		if ready != nil {
			return fmt.Errorf("ready given twice (%q, then %q): a backend has one readiness URL", readyURLOf(ready), readyURLOf(opt))
		}
		ready = opt
		return nil
	})
	return rest, ready, err
}

// takeOption removes from the backend block seg each line that starts
// with the option name at the block's top level, with the option's own
// block if it has one: span gives how many tokens an option takes from
// its name on. Each is handed to take, in order; an error from take ends
// the scan.
func takeOption(seg caddyfile.Segment, name string, span func(caddyfile.Segment) int, take func(caddyfile.Segment) error) (caddyfile.Segment, error) {
	out := make(caddyfile.Segment, 0, len(seg))
	depth := 0
	for i := 0; i < len(seg); i++ {
		tok := seg[i]
		firstOnLine := i == 0 || seg[i-1].Line != tok.Line || seg[i-1].File != tok.File
		if depth == 1 && firstOnLine && tok.Text == name {
			n := span(seg[i:])
			if err := take(seg[i : i+n]); err != nil {
				return nil, err
			}
			i += n - 1
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
	return out, nil
}

// readyLen returns how many tokens the ready option at the start of seg
// takes: its line, and its block if the line ends with "{".
func readyLen(seg caddyfile.Segment) int {
	n := 1
	for n < len(seg) && seg[n].Line == seg[0].Line && seg[n].File == seg[0].File {
		n++
	}
	if seg[n-1].Text != "{" || n == 1 {
		return n
	}
	for depth := 1; n < len(seg) && depth > 0; n++ {
		switch seg[n].Text {
		case "{":
			depth++
		case "}":
			depth--
		}
	}
	return n
}

// readyURLOf returns the URL of the ready option at the start of seg,
// redacted, for a message.
func readyURLOf(seg caddyfile.Segment) string {
	if len(seg) < 2 || seg[1].Line != seg[0].Line {
		return ""
	}
	return RedactURL(seg[1].Text)
}

// ProxyOptions parses caddy-l4 proxy options (health checks, retries,
// proxy_protocol), given as the tokens of their lines, with caddy-l4's
// proxy parser, as the block of a proxy handler whose name is the token
// head. allowed says, for an unknown option, what the whole block takes.
func ProxyOptions(who string, head caddyfile.Token, toks []caddyfile.Token, allowed string) (l4proxy.Handler, error) {
	var h l4proxy.Handler
	if len(toks) == 0 {
		return h, nil
	}
	last := toks[len(toks)-1].Line
	block := append(caddyfile.Segment{head, {File: head.File, Line: head.Line, Text: "{"}}, toks...)
	block = append(block, caddyfile.Token{File: head.File, Line: last + 1, Text: "}"})
	d := caddyfile.NewDispenser(block)
	if err := h.UnmarshalCaddyfile(d); err != nil {
		return h, explain(d, block, err, who, proxyKnows, allowed)
	}
	return h, nil
}

// explain turns an error of a caddy-l4 parser, which stopped at d's current
// token in toks, into costlb's: an option caddy-l4 does not know gets
// "unknown option" and what is allowed (caddy-l4 says only "wrong argument
// count"); any other error keeps caddy-l4's words after where, which names
// the block.
func explain(d *caddyfile.Dispenser, toks []caddyfile.Token, err error, where string, knows func(string) bool, allowed string) error {
	at := d.Token()
	depth := 0
	for i, t := range toks {
		firstOnLine := i == 0 || toks[i-1].Line != t.Line || toks[i-1].File != t.File
		if depth == 1 && firstOnLine && t.File == at.File && t.Line == at.Line && t.Text == at.Text && !knows(t.Text) {
			// caddy-l4 stopped at the name of an option of the block
			return d.Errf("%s: unknown option %q; allowed: %s", where, t.Text, allowed)
		}
		switch t.Text {
		case "{":
			depth++
		case "}":
			depth--
		}
	}
	return fmt.Errorf("%s: %w", where, err)
}

// upstreamKnows and proxyKnows tell whether caddy-l4's upstream and proxy
// parsers know an option.
func upstreamKnows(opt string) bool {
	return knows(func(d *caddyfile.Dispenser) error { return new(l4proxy.Upstream).UnmarshalCaddyfile(d) },
		[]string{"upstream", "127.0.0.1:1"}, opt)
}

func proxyKnows(opt string) bool {
	return knows(func(d *caddyfile.Dispenser) error { return new(l4proxy.Handler).UnmarshalCaddyfile(d) },
		[]string{"proxy"}, opt)
}

// knows asks the caddy-l4 parser parse whether it knows the option opt,
// so that caddy-l4's option list stays in caddy-l4: it parses a block
// holding opt with 0 to 3 arguments. caddy-l4 answers an option it does
// not know with an argument error at the option's name, whatever follows
// it; an option it knows parses, or fails past its name (at a value), for
// some number of arguments.
func knows(parse func(*caddyfile.Dispenser) error, head []string, opt string) bool {
	arg := "1"
	if opt == arg {
		arg = "2"
	}
	for n := 0; n <= 3; n++ {
		var toks []caddyfile.Token
		for _, h := range head {
			toks = append(toks, caddyfile.Token{File: "probe", Line: 1, Text: h})
		}
		toks = append(toks, caddyfile.Token{File: "probe", Line: 1, Text: "{"}, caddyfile.Token{File: "probe", Line: 2, Text: opt})
		for range n {
			toks = append(toks, caddyfile.Token{File: "probe", Line: 2, Text: arg})
		}
		toks = append(toks, caddyfile.Token{File: "probe", Line: 3, Text: "}"})
		d := caddyfile.NewDispenser(toks)
		if err := parse(d); err == nil || d.Line() != 2 || d.Val() != opt {
			return true
		}
	}
	return false
}
