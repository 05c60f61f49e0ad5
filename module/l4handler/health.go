package l4handler

import (
	_ "unsafe" // for go:linkname

	"github.com/mholt/caddy-l4/modules/l4proxy"
)

// upstreamHealthy reports whether caddy-l4 considers u healthy: no peer is
// marked down by active health checks. (It would also apply caddy-l4's
// passive checks' max_fails, but costlb gives caddy-l4 no passive checks:
// they are costlb's own, passive.go.) It is caddy-l4's own
// (*Upstream).healthy.
//
// Why a linkname: caddy-l4 keeps health in unexported state and exports no
// way to read it. Its available() would be the obvious call, but it also
// applies max_connections to a per-peer counter that caddy-l4 v0.1.2 never
// decrements (dialPeers calls countConn(1) with no matching -1), so after
// max_connections connections ever opened a backend would be "full"
// forever. costlb keeps exact live counts itself and needs health alone.
//
// This is pinned to caddy-l4 v0.1.2 (go.mod). TestHealthFollowsCaddyL4Active
// in this package drives real active health checks and fails if this link
// breaks or changes meaning. It is the only linkname in costlb.
//
//go:linkname upstreamHealthy github.com/mholt/caddy-l4/modules/l4proxy.(*Upstream).healthy
func upstreamHealthy(u *l4proxy.Upstream) bool
