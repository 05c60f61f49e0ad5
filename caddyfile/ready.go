package caddyfile

import (
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// Ready is a backend's "ready <url> [{ ... }]": the readiness URL of a
// gateway and how to poll it.
type Ready struct {
	// URL is the gateway's readiness URL ("" when the backend has none).
	URL string
	// TLS holds the block's TLS client options, with the meaning of Caddy's
	// reverse_proxy HTTP transport (nil when there are none).
	TLS *reverseproxy.TLSConfig
	// Header holds the block's header lines, sent with every poll.
	Header http.Header
}

// ReadyOptions is what a ready block takes, for an unknown option.
const ReadyOptions = "header <field> <value>, and the TLS options of reverse_proxy's http transport: " +
	"tls, tls_trust_pool, tls_client_auth, tls_server_name, tls_insecure_skip_verify, tls_timeout, " +
	"tls_renegotiation, tls_curves, tls_except_ports"

// parseReady parses the tokens of a ready option and its block; where
// names the backend in messages.
func parseReady(seg caddyfile.Segment, where string) (Ready, error) {
	var r Ready
	d := caddyfile.NewDispenser(seg)
	d.Next() // ready
	args := d.RemainingArgs()
	if len(args) != 1 {
		for i := range args {
			args[i] = RedactURL(args[i])
		}
		return r, d.Errf("%s: ready takes exactly one URL (the gateway's costlb_status /ready/<service>), then optionally a block; got %q", where, args)
	}
	r.URL = args[0]
	var tlsToks caddyfile.Segment
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		switch {
		case opt == "header":
			field, value, err := headerLine(d, where)
			if err != nil {
				return r, err
			}
			if r.Header == nil {
				r.Header = make(http.Header)
			}
			r.Header.Add(field, value)
		case strings.HasPrefix(opt, "tls"):
			tlsToks = append(tlsToks, d.NextSegment()...)
		default:
			return r, d.Errf("%s: ready: unknown option %q; allowed: %s", where, opt, ReadyOptions)
		}
	}
	if tlsToks != nil {
		var err error
		if r.TLS, err = readyTLS(seg[0], tlsToks); err != nil {
			return r, fmt.Errorf("%s: ready: %w", where, err)
		}
	}
	return r, nil
}

// headerLine parses "header <field> <value>" at d. The value is not
// quoted in messages: it may be a secret.
func headerLine(d *caddyfile.Dispenser, where string) (string, string, error) {
	args := d.RemainingArgs()
	if len(args) != 2 {
		return "", "", d.Errf("%s: ready: header takes a field and a value (header Authorization \"Bearer {env.TOKEN}\"), got %d arguments", where, len(args))
	}
	if err := CheckHeader(args[0], args[1]); err != nil {
		return "", "", d.Errf("%s: ready: %w", where, err)
	}
	return args[0], args[1], nil
}

// CheckHeader refuses a header costlb cannot send with a poll: a field
// that is not an HTTP token, Host (the URL names the host), or a value
// with a control character. A message names the field, never the value.
func CheckHeader(field, value string) error {
	if field == "" || strings.IndexFunc(field, func(c rune) bool { return !isTokenChar(c) }) >= 0 {
		return fmt.Errorf("header field %q: not a valid HTTP header name (letters, digits and !#$%%&'*+-.^_`|~)", field)
	}
	if http.CanonicalHeaderKey(field) == "Host" {
		return fmt.Errorf("header field %q: the URL's host is the Host; set the TLS server name with tls_server_name", field)
	}
	if i := strings.IndexFunc(value, func(c rune) bool { return (c < ' ' && c != '\t') || c == 0x7f }); i >= 0 {
		return fmt.Errorf("header %s: value has a control character at byte %d (values may not hold line breaks)", field, i)
	}
	return nil
}

func isTokenChar(c rune) bool {
	return c < 0x7f && (c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("!#$%&'*+-.^_`|~", c))
}

// readyTLS parses the TLS lines of a ready block with the parser of
// reverse_proxy's http transport, so that they mean exactly what they mean
// there. at is the ready token, for positions.
func readyTLS(at caddyfile.Token, toks caddyfile.Segment) (*reverseproxy.TLSConfig, error) {
	last := toks[len(toks)-1].Line
	block := caddyfile.Segment{{File: at.File, Line: at.Line, Text: "http"}, {File: at.File, Line: at.Line, Text: "{"}}
	block = append(block, toks...)
	block = append(block, caddyfile.Token{File: at.File, Line: last + 1, Text: "}"})
	var t reverseproxy.HTTPTransport
	if err := t.UnmarshalCaddyfile(caddyfile.NewDispenser(block)); err != nil {
		return nil, err
	}
	if t.TLS == nil { // only "tls" given, or options that set nothing
		t.TLS = new(reverseproxy.TLSConfig)
	}
	return t.TLS, nil
}
