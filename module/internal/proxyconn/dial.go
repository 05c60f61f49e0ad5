package proxyconn

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/costlb/costlb/module/rttcost"
)

// Target is where and how a Dialer connects, as plain values: l4handler
// makes them from caddy-l4's upstream (its address parsed, the known
// placeholders of local_address replaced, its TLS client config made).
type Target struct {
	Network string // tcp, tcp4, tcp6 or unix
	Addr    string // host:port, or the socket path
	Host    string // host part (for resolver_preference and the TLS server name)

	ResolverPreference string   // "", ipv4_only, ipv6_only, ipv4_first, ipv6_first
	LocalAddrs         []string // local_address entries, placeholders of the connection left

	TLS        *tls.Config   // nil: plain TCP; Dial copies it only to change it
	TLSTimeout time.Duration // tls_timeout; 0: Timeout

	ProxyProtocol byte          // PROXY protocol version; 0: none
	Timeout       time.Duration // dial_timeout

	// ConnectTime, if set, takes the time each successful TCP connect
	// took (one round trip on Linux), name resolution left out: the
	// samples of a link whose cost follows the round trip.
	ConnectTime func(time.Duration)
}

// Dialer opens connections to one backend address the way caddy-l4's proxy
// does (local_address, resolver_preference, upstream TLS adopting the
// client's ClientHello, the PROXY protocol), but without caddy-l4's
// per-peer connection counter, and every step bounded in time.
type Dialer struct {
	network string
	addr    string
	host    string

	pref     string
	local    []string
	localDyn bool // some local address still holds placeholders

	tls        *tls.Config
	tlsTimeout time.Duration
	sniDyn     bool // the TLS server name holds placeholders

	proxyProtocol byte
	timeout       time.Duration
	connectTime   func(time.Duration)
}

// NewDialer returns the dialer of t, refusing what caddy-l4 refuses of its
// local_address.
func NewDialer(t Target) (*Dialer, error) {
	switch t.Network {
	case "tcp", "tcp4", "tcp6":
	case "unix":
		if len(t.LocalAddrs) > 0 {
			return nil, fmt.Errorf("local_address is not supported for unix socket backends")
		}
	default:
		return nil, fmt.Errorf("network %q is not supported: costlb proxies streams; use tcp, tcp4, tcp6 or unix", t.Network)
	}
	d := &Dialer{network: t.Network, addr: t.Addr, host: t.Host, pref: t.ResolverPreference,
		local: t.LocalAddrs, tls: t.TLS, tlsTimeout: t.TLSTimeout, proxyProtocol: t.ProxyProtocol, timeout: t.Timeout,
		connectTime: t.ConnectTime}
	if d.network == "unix" {
		d.connectTime = nil // a socket on this host crosses no link
	}
	for _, la := range d.local {
		d.localDyn = d.localDyn || strings.Contains(la, "{")
	}
	if err := checkLocalFamily(d.pref, d.local); err != nil {
		return nil, err
	}
	if d.tls != nil {
		if d.tls.ServerName == "" && d.network != "unix" {
			// what tls.Dial does: verify the certificate for the dialled host
			d.tls.ServerName = d.host
		}
		d.sniDyn = strings.Contains(d.tls.ServerName, "{")
	}
	return d, nil
}

// checkLocalFamily refuses, as caddy-l4 does, resolver_preference
// ipv4_only or ipv6_only with local_address entries none of which is of
// that family: every source would be skipped and the system would choose
// one, silently. Entries with placeholders are known only per connection.
func checkLocalFamily(pref string, locals []string) error {
	want := map[string]int{"ipv4_only": 4, "ipv6_only": 6}[pref]
	if want == 0 || len(locals) == 0 {
		return nil
	}
	for _, la := range locals {
		if strings.Contains(la, "{") {
			return nil
		}
		host := strings.TrimSpace(la)
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		ip := net.ParseIP(host)
		if ip == nil {
			continue
		}
		if (ip.To4() != nil) == (want == 4) {
			return nil
		}
	}
	return fmt.Errorf("resolver_preference %s needs a local_address of IPv%d, but none of %q is", pref, want, locals)
}

// Dial connects to the backend for the client connection down. Each
// step is bounded by the dial timeout (the TLS handshake and PROXY header
// by tls_timeout if set) and the whole by end, unless end is zero.
func (d *Dialer) Dial(down Client, end time.Time) (net.Conn, error) {
	network := d.network
	var locals []net.Addr
	if len(d.local) > 0 || d.pref != "" {
		fam, err := d.family(within(d.timeout, end))
		if err != nil {
			return nil, err
		}
		network = narrowNetwork(network, fam)
		locals = d.localAddrs(down, network, fam)
	}
	var timer *rttcost.ConnectTimer
	if d.connectTime != nil {
		timer = new(rttcost.ConnectTimer)
	}
	up, err := dialFrom(locals, network, d.addr, within(d.timeout, end), timer)
	if err != nil {
		return nil, err
	}
	if timer != nil {
		if rtt := timer.Elapsed(); rtt >= 0 {
			d.connectTime(rtt)
		}
	}
	if d.tls == nil && d.proxyProtocol == 0 {
		return up, nil
	}
	step := d.timeout
	if d.tls != nil && d.tlsTimeout > 0 {
		step = d.tlsTimeout
	}
	conn, err := d.setup(up, down, within(step, end))
	if err != nil {
		_ = up.Close()
		return nil, err
	}
	return conn, nil
}

// within returns the sooner of now+d and end (if end is not zero).
func within(d time.Duration, end time.Time) time.Time {
	t := time.Now().Add(d)
	if !end.IsZero() && end.Before(t) {
		return end
	}
	return t
}

// setup does the TLS handshake and writes the PROXY header (inside TLS,
// where caddy-l4 writes it) on a new upstream connection, both by
// deadline. It returns the connection to proxy to, without a deadline.
func (d *Dialer) setup(up net.Conn, down Client, deadline time.Time) (net.Conn, error) {
	if err := up.SetDeadline(deadline); err != nil {
		return nil, err
	}
	conn := up
	if d.tls != nil {
		tc := tls.Client(up, d.tlsConfig(down))
		if err := tc.Handshake(); err != nil {
			return nil, fmt.Errorf("TLS handshake with %s: %w", d.addr, err)
		}
		conn = tc
	}
	if d.proxyProtocol > 0 {
		src, dst := down.ProxyAddrs()
		header := proxyproto.HeaderProxyFromAddrs(d.proxyProtocol, src, dst)
		header.Command = proxyproto.PROXY
		if _, err := header.WriteTo(conn); err != nil {
			return nil, fmt.Errorf("PROXY protocol header to %s: %w", d.addr, err)
		}
	}
	// clear the deadline on the socket: a tls.Conn would refuse to after
	// a write timeout, and the socket is what the copy reads anyway
	if err := up.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	return conn, nil
}

// tlsConfig returns the TLS client config for one connection: the
// backend's, adopting the client's ClientHello and negotiated protocol as
// caddy-l4 does (Client.AdoptTLS), with placeholders in the server name
// replaced. It copies the shared config only when it changes something.
func (d *Dialer) tlsConfig(down Client) *tls.Config {
	cfg := down.AdoptTLS(d.tls)
	if d.sniDyn {
		if cfg == d.tls {
			cfg = cfg.Clone()
		}
		cfg.ServerName = down.Replace(cfg.ServerName)
	}
	return cfg
}

// dialFrom dials addr from each local address in turn, first success wins;
// from the system's choice when locals is empty. Backend connections get
// no TCP keepalive probes (Go's dialer would set four socket options per
// connection for them), as HAProxy's and nginx's by default. timer, if
// not nil, times the connects.
func dialFrom(locals []net.Addr, network, addr string, deadline time.Time, timer *rttcost.ConnectTimer) (net.Conn, error) {
	var control func(context.Context, string, string, syscall.RawConn) error
	if timer != nil {
		control = timer.Control
	}
	if len(locals) == 0 {
		return (&net.Dialer{Deadline: deadline, KeepAlive: -1, ControlContext: control}).Dial(network, addr)
	}
	var lastErr error
	for _, la := range locals {
		c, err := (&net.Dialer{Deadline: deadline, KeepAlive: -1, LocalAddr: la, ControlContext: control}).Dial(network, addr)
		if err == nil {
			return c, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

// family returns the address family, 4 or 6, to dial the backend with
// under resolver_preference (empty: ipv4_first), as caddy-l4 chooses it.
func (d *Dialer) family(deadline time.Time) (int, error) {
	if d.network == "unix" {
		return 0, nil
	}
	if ip := net.ParseIP(d.host); ip != nil {
		v4 := ip.To4() != nil
		switch {
		case v4 && d.pref == "ipv6_only":
			return 0, fmt.Errorf("resolver_preference ipv6_only but the backend %s is an IPv4 address", d.addr)
		case !v4 && d.pref == "ipv4_only":
			return 0, fmt.Errorf("resolver_preference ipv4_only but the backend %s is an IPv6 address", d.addr)
		case v4:
			return 4, nil
		}
		return 6, nil
	}
	if fam := networkFamily(d.network); fam != 0 {
		if (d.pref == "ipv4_only" && fam != 4) || (d.pref == "ipv6_only" && fam != 6) {
			return 0, fmt.Errorf("resolver_preference %s but the backend's network is %s", d.pref, d.network)
		}
		return fam, nil
	}
	ctx, cancel := context.WithDeadline(context.Background(), deadline)
	defer cancel()
	ips, err := net.DefaultResolver.LookupIPAddr(ctx, d.host)
	if err != nil {
		return 0, fmt.Errorf("resolve %s: %w", d.host, err)
	}
	var v4, v6 bool
	for _, ip := range ips {
		v4, v6 = v4 || ip.IP.To4() != nil, v6 || ip.IP.To4() == nil
	}
	first, second := 4, 6
	has := map[int]bool{4: v4, 6: v6}
	switch d.pref {
	case "ipv4_only":
		second = 0
	case "ipv6_only":
		first, second = 6, 0
	case "ipv6_first":
		first, second = 6, 4
	}
	if has[first] {
		return first, nil
	}
	if second != 0 && has[second] {
		return second, nil
	}
	return 0, fmt.Errorf("resolver_preference %q: no usable DNS records for %s", d.pref, d.host)
}

// localAddrs returns the local_address entries of the family to dial from,
// in order, as caddy-l4 picks them: entries with a network prefix or
// that are not IP addresses are skipped.
func (d *Dialer) localAddrs(down Client, network string, fam int) []net.Addr {
	if len(d.local) == 0 {
		return nil
	}
	if f := networkFamily(network); f != 0 {
		fam = f
	}
	var out []net.Addr
	for _, la := range d.local {
		if d.localDyn {
			la = down.Replace(la)
		}
		la = strings.TrimSpace(la)
		if la == "" {
			continue
		}
		if strings.Contains(la, "/") { // a network prefix: "tcp/10.0.0.1"
			continue
		}
		host, port := la, "0"
		if h, p, err := net.SplitHostPort(la); err == nil {
			host, port = h, p
		}
		ip := net.ParseIP(host)
		if ip == nil || (fam == 4 && ip.To4() == nil) || (fam == 6 && ip.To4() != nil) {
			continue
		}
		p, err := strconv.ParseUint(port, 10, 16)
		if err != nil && port != "" {
			continue
		}
		out = append(out, &net.TCPAddr{IP: ip, Port: int(p)})
	}
	return out
}

// networkFamily returns 4 or 6 for a network that names its family, else 0.
func networkFamily(network string) int {
	switch network {
	case "tcp4":
		return 4
	case "tcp6":
		return 6
	}
	return 0
}

// narrowNetwork makes "tcp" family-specific, so that resolver_preference
// holds at the dial itself.
func narrowNetwork(network string, fam int) string {
	if network != "tcp" || fam == 0 {
		return network
	}
	return "tcp" + strconv.Itoa(fam)
}
