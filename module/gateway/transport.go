package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"time"
)

// Setup is how a poller reaches its gateway beyond the URL: the TLS
// client config of its ready block and the headers sent with every poll.
type Setup struct {
	TLS              *tls.Config // nil: Go's defaults (the system's roots)
	HandshakeTimeout time.Duration
	Header           http.Header
}

// transport polls with the setup of the config that last provisioned
// the poller: a reload that keeps a gateway keeps its poller and last
// answer, and polls with the certificates, trust pool and headers the new
// config reads (certificate rotation by reload).
type transport struct {
	timeout time.Duration
	cur     atomic.Pointer[round]
}

// round is one setup with the transport made from it.
type round struct {
	setup *Setup
	rt    *http.Transport
}

// newClient returns the HTTP client of a poller with setup.
func newClient(timeout time.Duration, setup *Setup) *http.Client {
	t := &transport{timeout: timeout}
	t.use(setup)
	return &http.Client{
		Transport: t,
		// a redirect is an answer that is not 2xx
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// use makes the next polls use setup (nil: no TLS options, no headers).
func (t *transport) use(setup *Setup) {
	if setup == nil {
		setup = new(Setup)
	}
	hs := t.timeout
	if setup.HandshakeTimeout > 0 {
		hs = min(hs, setup.HandshakeTimeout)
	}
	t.cur.Store(&round{setup: setup, rt: &http.Transport{
		// A fresh connection per poll: a peer that reloads closes idle
		// connections, and a poll that met one would read as a flap.
		Proxy:                  nil,
		DisableKeepAlives:      true,
		DialContext:            (&net.Dialer{Timeout: t.timeout}).DialContext,
		TLSClientConfig:        setup.TLS,
		TLSHandshakeTimeout:    hs,
		ResponseHeaderTimeout:  t.timeout,
		MaxResponseHeaderBytes: maxAnswer,
	}})
}

// RoundTrip sends req with the current setup's headers.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := t.cur.Load()
	if len(r.setup.Header) > 0 {
		req = req.Clone(req.Context())
		for field, values := range r.setup.Header {
			req.Header[http.CanonicalHeaderKey(field)] = values
		}
	}
	resp, err := r.rt.RoundTrip(req)
	if err != nil && req.URL.Scheme == "https" {
		name := req.URL.Hostname()
		if r.setup.TLS != nil && r.setup.TLS.ServerName != "" {
			name = r.setup.TLS.ServerName
		}
		err = &tlsPollError{serverName: name, err: err}
	}
	return resp, err
}

// tlsPollError is a failed poll over TLS, with the server name it asked
// for.
type tlsPollError struct {
	serverName string
	err        error
}

func (e *tlsPollError) Error() string { return e.err.Error() }
func (e *tlsPollError) Unwrap() error { return e.err }

// describePollError says why a poll got no answer, in words that name the
// cause: a timeout, or what failed in TLS and which option fixes it. It
// never repeats the URL, which may hold credentials.
func describePollError(err error, timeout time.Duration) string {
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Sprintf("no answer within the timeout %v", timeout)
	}
	if why := describeTLSError(err); why != "" {
		return why
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Sprintf("no answer within the timeout %v", timeout)
	}
	return WithoutURL(err).Error()
}

// describeTLSError describes a TLS failure of a poll, or returns "".
func describeTLSError(err error) string {
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var verify *tls.CertificateVerificationError
	switch {
	case errors.As(err, &unknown):
		return "TLS: the gateway's certificate is signed by an unknown authority (" + subject(unknown.Cert) + "); trust its CA with tls_trust_pool"
	case errors.As(err, &host):
		return "TLS: name mismatch: " + host.Error() + "; use the certificate's name in the URL or tls_server_name"
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return "TLS: the gateway's certificate has expired or is not yet valid: " + invalid.Error()
	case errors.As(err, &verify):
		return "TLS: the gateway's certificate is not valid: " + verify.Err.Error()
	}
	msg := err.Error()
	var pe *tlsPollError
	if strings.Contains(msg, "remote error: tls: internal error") && errors.As(err, &pe) {
		// what Caddy answers when it has no certificate for the name
		return fmt.Sprintf("TLS: the gateway has no certificate for the server name %q (it answered: internal error); "+
			"use its certificate's DNS name in the URL, or tls_server_name", pe.serverName)
	}
	for alert, why := range map[string]string{
		"tls: certificate required":          "the gateway requires a client certificate and got none it accepts; give one from a CA it trusts with tls_client_auth",
		"tls: expired certificate":           "the gateway refused our client certificate: it has expired",
		"tls: unknown certificate authority": "the gateway does not trust the CA of our client certificate",
		"tls: bad certificate":               "the gateway refused our client certificate",
		"tls: unknown certificate":           "the gateway refused our client certificate",
		"tls: certificate revoked":           "the gateway refused our client certificate: revoked",
		"tls: handshake failure":             "the TLS handshake failed (no common protocol or cipher, or the gateway refused our client certificate)",
	} {
		if strings.Contains(msg, "remote error: "+alert) {
			return "TLS: " + why + " (" + alert + ")"
		}
	}
	if strings.Contains(msg, "server gave HTTP response to HTTPS client") || strings.Contains(msg, "first record does not look like a TLS handshake") {
		return "TLS: the gateway answered in plain HTTP: use an http:// URL, or serve its costlb_status over HTTPS"
	}
	if strings.Contains(msg, "tls: ") {
		return "TLS: " + WithoutURL(err).Error()
	}
	return ""
}

func subject(c *x509.Certificate) string {
	if c == nil {
		return "no certificate"
	}
	return "issuer " + c.Issuer.String()
}

// describeStatus says what a non-2xx answer means for the poll.
func describeStatus(resp *http.Response) string {
	switch resp.StatusCode {
	case http.StatusUnauthorized:
		return fmt.Sprintf("answered %s: the gateway wants credentials; give them with a header line of the ready block (header Authorization ...)", resp.Status)
	case http.StatusMisdirectedRequest:
		return fmt.Sprintf("answered %s: the gateway requires the TLS server name to equal the URL's host (as Caddy does with client auth); "+
			"name its certificate's DNS name in the URL and drop tls_server_name", resp.Status)
	case http.StatusForbidden:
		return fmt.Sprintf("answered %s: the gateway refuses these credentials or this client", resp.Status)
	}
	return fmt.Sprintf("answered %s", resp.Status)
}

// WithoutURL returns what a *url.Error wraps, without its URL (which may
// hold credentials), or err itself.
func WithoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
