package l4handler

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mholt/caddy-l4/modules/l4proxy"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// fakeResolver answers from a table; a name not in it does not resolve,
// and "hang.example" answers only when the lookup is given up.
type fakeResolver map[string][]string

func (f fakeResolver) LookupNetIP(ctx context.Context, _, host string) ([]netip.Addr, error) {
	if host == "hang.example" {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	ips, ok := f[host]
	if !ok {
		return nil, errors.New("no such host " + host)
	}
	var out []netip.Addr
	for _, s := range ips {
		out = append(out, netip.MustParseAddr(s))
	}
	return out, nil
}

// sameServerWarnings runs warnSameServer on the addresses (each one
// upstream; "addr|ipv4_only" sets a resolver preference) and returns the
// warnings as "address other_address resolved" lines, sorted.
func sameServerWarnings(t *testing.T, res hostResolver, addrs ...string) []string {
	t.Helper()
	core, logs := observer.New(zapcore.DebugLevel)
	var ups l4proxy.UpstreamPool
	for _, a := range addrs {
		addr, pref, _ := strings.Cut(a, "|")
		ups = append(ups, &l4proxy.Upstream{Dial: []string{addr}, ResolverPreference: pref})
	}
	warnSameServer(zap.New(core), "db", ups, res)
	var out []string
	for _, e := range logs.All() {
		f := e.ContextMap()
		if e.Level != zapcore.WarnLevel || f["service"] != "db" || !strings.Contains(e.Message, "counted per dial address") {
			t.Errorf("unexpected log entry %s %q %v", e.Level, e.Message, f)
			continue
		}
		out = append(out, f["address"].(string)+" "+f["other_address"].(string)+" "+f["resolved"].(string))
	}
	slices.Sort(out)
	return out
}

func TestWarnSameServer(t *testing.T) {
	res := fakeResolver{
		"db.example":    {"10.0.0.1", "10.0.0.2"},
		"alias.example": {"10.0.0.1"},
		"both.example":  {"10.0.0.2", "10.0.0.1"},
		"dual.example":  {"10.0.0.9", "::9"},
		"v4.example":    {"::ffff:10.0.0.7"},
	}
	tests := []struct {
		name  string
		addrs []string
		want  []string
	}{
		{"distinct servers", []string{"10.0.0.1:5432", "10.0.0.2:5432", "10.0.0.1:5433", "db.example:6000"}, nil},
		{"a name and an IP", []string{"10.0.0.2:5432", "db.example:5432"}, []string{"10.0.0.2:5432 db.example:5432 10.0.0.2:5432"}},
		{"two names", []string{"db.example:5432", "alias.example:5432", "10.0.0.3:5432"}, []string{"db.example:5432 alias.example:5432 10.0.0.1:5432"}},
		{"two IPs in common, one warning", []string{"both.example:5432", "db.example:5432"}, []string{"both.example:5432 db.example:5432 10.0.0.1:5432"}},
		{"every pair of three", []string{"10.0.0.1:1", "alias.example:1", "tcp/db.example:1"},
			[]string{"10.0.0.1:1 alias.example:1 10.0.0.1:1", "10.0.0.1:1 tcp/db.example:1 10.0.0.1:1", "alias.example:1 tcp/db.example:1 10.0.0.1:1"}},
		{"tcp and udp are different servers", []string{"10.0.0.1:53", "udp/alias.example:53"}, nil},
		{"tcp4 is tcp", []string{"tcp4/10.0.0.1:53", "alias.example:53"}, []string{"tcp4/10.0.0.1:53 alias.example:53 10.0.0.1:53"}},
		{"IPv4-mapped IPv6", []string{"v4.example:80", "[::ffff:10.0.0.7]:80", "10.0.0.7:80"},
			[]string{"[::ffff:10.0.0.7]:80 10.0.0.7:80 10.0.0.7:80", "v4.example:80 10.0.0.7:80 10.0.0.7:80", "v4.example:80 [::ffff:10.0.0.7]:80 10.0.0.7:80"}},
		{"IPv6", []string{"dual.example:80", "[::9]:80"}, []string{"dual.example:80 [::9]:80 [::9]:80"}},
		{"ipv4_only never dials the IPv6 address", []string{"dual.example:80|ipv4_only", "[::9]:80"}, nil},
		{"ipv6_only never dials the IPv4 address", []string{"dual.example:80|ipv6_only", "10.0.0.9:80"}, nil},
		{"a name that does not resolve", []string{"nowhere.invalid:80", "10.0.0.1:80"}, nil},
		{"unix sockets", []string{"unix//tmp/a.sock", "unix//tmp/b.sock"}, nil},
		{"one backend", []string{"db.example:5432"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sameServerWarnings(t, res, tt.addrs...); !slices.Equal(got, tt.want) {
				t.Errorf("warnings\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

// TestWarnSameServerLocalhost uses the system's resolver: localhost is
// 127.0.0.1 (and maybe ::1), so it is the same server as 127.0.0.1.
func TestWarnSameServerLocalhost(t *testing.T) {
	ips, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", "localhost")
	if err != nil || !slices.ContainsFunc(ips, func(ip netip.Addr) bool { return ip.Unmap() == netip.MustParseAddr("127.0.0.1") }) {
		t.Skipf("localhost does not resolve to 127.0.0.1 here: %v %v", ips, err)
	}
	got := sameServerWarnings(t, net.DefaultResolver, "127.0.0.1:9001", "localhost:9001", "127.0.0.1:9002")
	want := []string{"127.0.0.1:9001 localhost:9001 127.0.0.1:9001"}
	if !slices.Equal(got, want) {
		t.Errorf("warnings\n got %q\nwant %q", got, want)
	}
}

// TestWarnSameServerGivesUp: a lookup that does not answer is given up
// after sameServerTimeout, and the other backends are still compared.
func TestWarnSameServerGivesUp(t *testing.T) {
	start := time.Now()
	got := sameServerWarnings(t, fakeResolver{"alias.example": {"10.0.0.1"}}, "hang.example:80", "alias.example:80", "10.0.0.1:80")
	if took := time.Since(start); took > sameServerTimeout+5*time.Second {
		t.Errorf("took %v with a lookup that never answers; the limit is %v", took, sameServerTimeout)
	}
	if want := []string{"alias.example:80 10.0.0.1:80 10.0.0.1:80"}; !slices.Equal(got, want) {
		t.Errorf("warnings\n got %q\nwant %q", got, want)
	}
}
