package module

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"

	"github.com/costlb/costlb/linkgraph"
)

// CheckDialAddress refuses addresses costlb cannot count per address.
func CheckDialAddress(addr string) error {
	if strings.Contains(addr, "{") {
		return fmt.Errorf("address %q: placeholders are not supported: costlb counts live connections per fixed address", addr)
	}
	na, err := caddy.ParseNetworkAddress(addr)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) {
			return fmt.Errorf("malformed address %q: port %q must be 1-65535; want host:port", addr, ne.Num)
		}
		return fmt.Errorf("malformed address %q: %w; want host:port", addr, err)
	}
	if na.PortRangeSize() != 1 {
		return fmt.Errorf("address %q: port ranges are not supported; give one port", addr)
	}
	if !na.IsUnixNetwork() && na.StartPort == 0 {
		if strings.HasSuffix(addr, ":0") {
			return fmt.Errorf("malformed address %q: port 0: must be 1-65535; want host:port", addr)
		}
		return fmt.Errorf("malformed address %q: missing port; want host:port", addr)
	}
	return nil
}

// AddressKey normalises a dial address so that "127.0.0.1:80" and
// "tcp/127.0.0.1:80" share one live count.
func AddressKey(addr string) string {
	na, err := caddy.ParseNetworkAddress(addr)
	if err != nil {
		return addr
	}
	return na.String()
}

// AddressList writes addresses for messages, space-separated as on a
// Caddyfile line; a long list is cut short, with its length given.
func AddressList(addrs []string) string {
	const keep = 3
	if len(addrs) <= keep {
		return strings.Join(addrs, " ")
	}
	return fmt.Sprintf("%s … (%d addresses)", strings.Join(addrs[:keep], " "), len(addrs))
}

// SiteLabel writes a site name for messages: as it is when it is a valid
// site name, else quoted.
func SiteLabel(site string) string {
	if linkgraph.CheckSiteName(site) == nil && !strings.ContainsAny(site, `"()`) {
		return site
	}
	return linkgraph.QuoteName(site)
}
