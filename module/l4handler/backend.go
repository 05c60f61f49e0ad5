package l4handler

import (
	"github.com/mholt/caddy-l4/modules/l4proxy"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/costlb/costlb/costlb"
	"github.com/costlb/costlb/module"
	"github.com/costlb/costlb/module/gateway"
	"github.com/costlb/costlb/module/history"
	"github.com/costlb/costlb/module/internal/proxyconn"
)

// backend is one dial address of a service's backends, with all the
// handler keeps of it. The balancer's backend i is the handler's
// backends[i].
type backend struct {
	up       *l4proxy.Upstream // costlb's: the configured upstream with this address alone
	checked  *l4proxy.Upstream // caddy-l4's, for its active health checks alone
	site     string
	pathCost int64
	weight   int64 // 1 to costlb.MaxWeight
	readyURL string
	cfg      *Backend        // the config backend it is an address of
	counter  *costlb.Counter // the process-wide live counter of the address
	gateway  *gateway.Poller // the readiness poller of a gateway backend, else nil
	// the data path (proxy.go)
	dialer  *proxyconn.Dialer
	passive *passiveState
	opened  prometheus.Counter // caddy-l4's proxy metric of the address, which costlb keeps up
	conns   proxyconn.Backend  // what its connections report to as they end
	counts  *history.Counts    // its bytes and failed dials, for the history and the metrics
}

// addr returns the backend's dial address.
func (b *backend) addr() string { return b.up.Dial[0] }

// release gives back the shared state the backend holds: its passive
// state, gateway poller and live counter. Connections still open keep
// using them, so the backend keeps them too.
func (b *backend) release() {
	if b.passive != nil {
		_, _ = passiveStates.Delete(module.AddressKey(b.addr()))
	}
	if b.gateway != nil {
		b.gateway.Release()
	}
	if b.counter != nil {
		module.Counters.Release(b.counter)
	}
}
