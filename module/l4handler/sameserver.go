package l4handler

import (
	"cmp"
	"context"
	"net"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/mholt/caddy-l4/modules/l4proxy"
	"go.uber.org/zap"
)

// Live connections are counted per dial address, so two backends of a
// service that reach one server by two names, such as 127.0.0.1:5432 and
// localhost:5432, have two counts that each see part of the server's
// load. Provision warns about such pairs; it is not an error, as the
// names may resolve differently where the config runs.

// sameServerTimeout bounds the name lookups of one service's backends.
const sameServerTimeout = time.Second

// hostResolver looks up the IP addresses of a host name; *net.Resolver is
// one.
type hostResolver interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
}

// endpoint is where a dial address leads: its network ("tcp" or "udp"),
// one IP and the port.
type endpoint struct {
	network string
	addr    netip.AddrPort
}

// warnSameServer warns about backends of the service that reach one
// server by two dial addresses, looking names up with Go's resolver.
func (h *Handler) warnSameServer() {
	warnSameServer(h.logger, h.Name, h.upstreams(), net.DefaultResolver)
}

// warnSameServer logs one warning for each pair of upstreams (one dial
// address each) that resolve to the same IP and port. Names are looked up
// at once, within sameServerTimeout; a name that does not resolve is
// skipped. An upstream's resolver_preference limits its IPs to the
// family it dials.
func warnSameServer(logger *zap.Logger, service string, ups l4proxy.UpstreamPool, res hostResolver) {
	if len(ups) < 2 {
		return
	}
	ends := resolveUpstreams(ups, res)
	owners := make(map[endpoint][]int)
	for i, es := range ends {
		for _, e := range es {
			if o := owners[e]; len(o) == 0 || o[len(o)-1] != i {
				owners[e] = append(o, i)
			}
		}
	}
	shared := make([]endpoint, 0, len(owners))
	for e, o := range owners {
		if len(o) > 1 {
			shared = append(shared, e)
		}
	}
	slices.SortFunc(shared, func(a, b endpoint) int {
		return cmp.Or(strings.Compare(a.network, b.network), a.addr.Compare(b.addr))
	})
	warned := make(map[[2]int]bool)
	for _, e := range shared {
		o := owners[e]
		for x := range o {
			for _, j := range o[x+1:] {
				pair := [2]int{o[x], j}
				if warned[pair] {
					continue
				}
				warned[pair] = true
				logger.Warn("costlb backends reach the same server: live connections are counted per dial address, so each of the two counts only its own",
					zap.String("service", service),
					zap.String("address", ups[pair[0]].Dial[0]),
					zap.String("other_address", ups[pair[1]].Dial[0]),
					zap.String("resolved", e.addr.String()),
					zap.String("network", e.network))
			}
		}
	}
}

// resolveUpstreams returns, for each upstream, the endpoints its dial
// address leads to: none for a unix socket or a name that did not
// resolve in time.
func resolveUpstreams(ups l4proxy.UpstreamPool, res hostResolver) [][]endpoint {
	ctx, cancel := context.WithTimeout(context.Background(), sameServerTimeout)
	defer cancel()
	ends := make([][]endpoint, len(ups))
	var wg sync.WaitGroup
	for i, u := range ups {
		na, err := caddy.ParseNetworkAddress(u.Dial[0])
		if err != nil || na.IsUnixNetwork() {
			continue
		}
		network := strings.TrimRight(na.Network, "46")
		port := uint16(na.StartPort)
		if ip, err := netip.ParseAddr(strings.Trim(na.Host, "[]")); err == nil {
			ends[i] = []endpoint{{network, netip.AddrPortFrom(ip.Unmap(), port)}}
			continue
		}
		wg.Go(func() {
			ips, err := res.LookupNetIP(ctx, "ip", na.Host)
			if err != nil {
				return
			}
			for _, ip := range ips {
				ip = ip.Unmap()
				if u.ResolverPreference == "ipv4_only" && !ip.Is4() || u.ResolverPreference == "ipv6_only" && !ip.Is6() {
					continue
				}
				ends[i] = append(ends[i], endpoint{network, netip.AddrPortFrom(ip, port)})
			}
		})
	}
	wg.Wait()
	return ends
}
