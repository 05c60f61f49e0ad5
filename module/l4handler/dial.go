package l4handler

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/mholt/caddy-l4/layer4"
	"github.com/mholt/caddy-l4/modules/l4proxy"
	"github.com/mholt/caddy-l4/modules/l4proxyprotocol"
	"github.com/mholt/caddy-l4/modules/l4tls"

	"github.com/costlb/costlb/module/internal/proxyconn"
)

// defaultDialTimeout bounds a dial when dial_timeout is not set: 3 s, as
// Caddy's HTTP transport.
const defaultDialTimeout = 3 * time.Second

var errNoUpstreams = errors.New("no upstreams available")

// newDialer prepares the dialer of u, an upstream with one dial address
// that Provision has already checked: the Caddy side of it (the address
// parsed, known placeholders replaced, the TLS client config made) here,
// the dialing in proxyconn. rtt, if not nil, takes the connect time of
// every successful dial (the backend's site is the far end of an auto
// link).
func newDialer(ctx caddy.Context, u *l4proxy.Upstream, proxyProtocol byte, timeout time.Duration, rtt func(time.Duration)) (*proxyconn.Dialer, error) {
	na, err := caddy.ParseNetworkAddress(u.Dial[0])
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", u.Dial[0], err)
	}
	t := proxyconn.Target{Network: na.Network, Addr: na.JoinHostPort(0), Host: na.Host,
		ResolverPreference: u.ResolverPreference, ProxyProtocol: proxyProtocol, Timeout: timeout, ConnectTime: rtt}
	repl := caddy.NewReplacer()
	for _, la := range u.LocalAddrs {
		t.LocalAddrs = append(t.LocalAddrs, repl.ReplaceKnown(la, ""))
	}
	if u.TLS != nil && !slices.Contains(u.TLS.ExceptPorts, strconv.FormatUint(uint64(na.StartPort), 10)) {
		// a copy: the addresses of a backend line share one TLS settings
		// value, and making a config loads (and so clears) its trust pool
		tc := *u.TLS
		if t.TLS, err = tc.MakeTLSClientConfig(ctx); err != nil {
			return nil, fmt.Errorf("address %q: making TLS client config: %w", u.Dial[0], err)
		}
		if t.TLS == nil {
			t.TLS = new(tls.Config)
		}
		t.TLSTimeout = time.Duration(tc.HandshakeTimeout)
	}
	d, err := proxyconn.NewDialer(t)
	if err != nil {
		return nil, fmt.Errorf("address %q: %w", u.Dial[0], err)
	}
	return d, nil
}

// l4Client is caddy-l4's connection as proxyconn needs it.
type l4Client struct{ *layer4.Connection }

// Socket returns the connection under caddy-l4's.
func (c l4Client) Socket() net.Conn { return c.Conn }

// Prefix returns the bytes layer4 matchers read.
func (c l4Client) Prefix() []byte { return c.MatchingBytes() }

// Replace replaces the connection's placeholders in s.
func (c l4Client) Replace(s string) string { return c.Replacer().ReplaceAll(s, "") }

// ProxyAddrs returns the addresses a PROXY header tells, as caddy-l4's
// proxy_protocol handler knows them.
func (c l4Client) ProxyAddrs() (src, dst net.Addr) {
	pc := l4proxyprotocol.GetConn(c.Connection)
	return pc.RemoteAddr(), pc.LocalAddr()
}

// AdoptTLS returns base adopting the client's ClientHello and negotiated
// protocol, as caddy-l4's proxy does; base itself when there are none.
func (c l4Client) AdoptTLS(base *tls.Config) *tls.Config {
	hellos := l4tls.GetClientHelloInfos(c.Connection)
	var proto string
	if states := l4tls.GetConnectionStates(c.Connection); len(states) > 0 {
		proto = states[0].NegotiatedProtocol
	}
	if len(hellos) == 0 && proto == "" {
		return base
	}
	cfg := base.Clone()
	if len(hellos) > 0 {
		hellos[0].FillTLSClientConfig(cfg)
	}
	if proto != "" {
		cfg.NextProtos = []string{proto}
	}
	return cfg
}
