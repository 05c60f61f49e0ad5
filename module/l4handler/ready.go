package l4handler

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	cfile "github.com/costlb/costlb/caddyfile"
	"github.com/costlb/costlb/module"
	"github.com/costlb/costlb/module/gateway"
)

// checkReady refuses a backend's readiness settings that cannot be
// polled: a bad URL, TLS options with an http:// URL or without a URL,
// tls_except_ports, a malformed header, a client certificate or key file
// that cannot be read. Messages show the URL redacted and never a header
// value.
func checkReady(b *Backend) error {
	if b.ReadyURL == "" {
		if b.ReadyTLS != nil || len(b.ReadyHeaders) > 0 {
			return fmt.Errorf("ready_tls and ready_headers need a readiness URL (ready)")
		}
		return nil
	}
	if err := checkReadyURL(b.ReadyURL); err != nil {
		return err
	}
	shown := cfile.RedactURL(b.ReadyURL)
	for field, values := range b.ReadyHeaders {
		for _, v := range values {
			if err := cfile.CheckHeader(field, v); err != nil {
				return fmt.Errorf("ready %q: %w", shown, err)
			}
		}
	}
	t := b.ReadyTLS
	if t == nil {
		return nil
	}
	if u, _ := url.Parse(b.ReadyURL); u.Scheme != "https" {
		return fmt.Errorf("ready %q: TLS options (tls_trust_pool, tls_client_auth, tls_server_name, ...; JSON: ready_tls) need an https:// URL", shown)
	}
	if len(t.ExceptPorts) > 0 {
		return fmt.Errorf("ready %q: tls_except_ports has no meaning for a readiness URL: its scheme says whether the poll uses TLS", shown)
	}
	for what, path := range map[string]string{"certificate": t.ClientCertificateFile, "key": t.ClientCertificateKeyFile} {
		if path == "" {
			continue
		}
		if _, err := os.ReadFile(path); err != nil {
			return fmt.Errorf("ready %q: tls_client_auth: client %s file %q cannot be read: %w", shown, what, path, err)
		}
	}
	return nil
}

// copyTLS returns a copy of t: each backend provisions its own, since
// provisioning a trust pool consumes its config.
func copyTLS(t *reverseproxy.TLSConfig) *reverseproxy.TLSConfig {
	if t == nil {
		return nil
	}
	c := *t
	c.CARaw = slices.Clone(t.CARaw)
	return &c
}

// readySetup returns how the gateway backend configured as b polls: its
// TLS client config, made as reverse_proxy makes it, and its headers with
// their placeholders replaced. It is made once per config backend (a
// backend with many addresses has one).
func (h *Handler) readySetup(b *Backend) (*gateway.Setup, error) {
	if s, ok := h.readySetups[b]; ok {
		return s, nil
	}
	shown := cfile.RedactURL(b.ReadyURL)
	s := &gateway.Setup{Header: make(http.Header, len(b.ReadyHeaders))}
	if t := b.ReadyTLS; t != nil {
		cfg, err := t.MakeTLSClientConfig(h.ctx)
		if err != nil {
			return nil, fmt.Errorf("ready %q: TLS client config: %w", shown, err)
		}
		if cfg == nil {
			cfg = new(tls.Config)
		}
		s.TLS, s.HandshakeTimeout = cfg, time.Duration(t.HandshakeTimeout)
	}
	repl := caddy.NewReplacer()
	for field, values := range b.ReadyHeaders {
		for _, v := range values {
			if name := missingEnv(v); name != "" {
				return nil, fmt.Errorf("ready %q: header %s: environment variable %s is not set", shown, field, name)
			}
			v = repl.ReplaceKnown(v, "")
			if err := cfile.CheckHeader(field, v); err != nil {
				return nil, fmt.Errorf("ready %q: after placeholders: %w", shown, err)
			}
			s.Header.Add(field, v)
		}
	}
	if h.readySetups == nil {
		h.readySetups = make(map[*Backend]*gateway.Setup)
	}
	h.readySetups[b] = s
	return s, nil
}

var envPlaceholder = regexp.MustCompile(`\{env\.([^{}]+)\}`)

// missingEnv returns the name of the first environment variable that a
// {env.NAME} placeholder of v names and that is not set, or "".
func missingEnv(v string) string {
	for _, m := range envPlaceholder.FindAllStringSubmatch(v, -1) {
		if _, ok := os.LookupEnv(m[1]); !ok {
			return m[1]
		}
	}
	return ""
}

// checkReadyURL refuses a readiness URL costlb cannot poll.
func checkReadyURL(raw string) error {
	shown := cfile.RedactURL(raw)
	if strings.Contains(raw, "{") {
		return fmt.Errorf("ready %q: placeholders are not supported; give the gateway's URL, e.g. http://10.1.0.1:9180/ready/<service>", shown)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("ready %q: malformed URL: %w; want e.g. http://10.1.0.1:9180/ready/<service>", shown, gateway.WithoutURL(err))
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return fmt.Errorf("ready %q: scheme %q: must be http or https", shown, u.Scheme)
	}
	if u.Host == "" {
		return fmt.Errorf("ready %q: no host; want e.g. http://10.1.0.1:9180/ready/<service>", shown)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("ready %q: port %s: must be 1-65535 (or none, for the scheme's default)", shown, p)
		}
	}
	if _, err := url.ParseRequestURI(raw); err != nil {
		return fmt.Errorf("ready %q: malformed URL: %w", shown, gateway.WithoutURL(err))
	}
	return nil
}

// readyPeriod returns the readiness poll interval and timeout of a
// service: its active health check settings as configured, else one second
// each (module.HealthPeriod). It must run before the embedded proxy's
// Provision, which fills in caddy-l4's own defaults.
func (h *Handler) readyPeriod() (interval, timeout time.Duration) {
	var iv, to caddy.Duration
	if hc := h.HealthChecks; hc != nil && hc.Active != nil {
		iv, to = hc.Active.Interval, hc.Active.Timeout
	}
	return module.HealthPeriod(iv), module.HealthPeriod(to)
}
