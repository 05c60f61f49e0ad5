package module

import (
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/mholt/caddy-l4/modules/l4proxy"
	"go.uber.org/zap"

	"github.com/costlb/costlb/costlb"
	"github.com/costlb/costlb/linkgraph"
)

// primaries remembers each service's primary site across config
// generations, so a failover first seen by a new config is still logged. A
// reload that keeps a service gets the same entry; the last config that
// has the service frees it.
var primaries = caddy.NewUsagePool()

// primaryMemo is a service's last primary site.
type primaryMemo struct {
	mu   sync.Mutex
	site string
	seen bool
}

// swap records site and returns the one recorded before, if any.
func (m *primaryMemo) swap(site string) (prev string, seen bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	prev, seen = m.site, m.seen
	m.site, m.seen = site, true
	return prev, seen
}

// Destruct does nothing: the memo is plain memory.
func (*primaryMemo) Destruct() error { return nil }

// identity names the service the same way across config generations: by
// its name when the config gives one, else by its backends (a default name
// says only where the service stands among the unnamed ones, which a
// reload may reorder).
func (h *Handler) identity(ups l4proxy.UpstreamPool, sites []string) string {
	if !h.defaultName {
		return "name " + strconv.Quote(h.Name)
	}
	keys := make([]string, len(ups))
	for i, u := range ups {
		keys[i] = strconv.Quote(sites[i] + " " + counterKey(u.Dial[0]))
	}
	slices.Sort(keys)
	return "backends " + strings.Join(keys, " ")
}

// logShift logs a change of the service's primary site.
func (h *Handler) logShift(s costlb.Shift) {
	logPrimaryShift(h.logger, h.Name, h.primary, h.paths, h.sel.bal, s)
}

// logPrimaryShift logs a change of service name's primary site, reported
// by its balancer bal, whose path costs are paths; memo carries the
// service's primary site across config generations.
func logPrimaryShift(logger *zap.Logger, name string, memo *primaryMemo, paths *linkgraph.Paths, bal *costlb.Balancer, s costlb.Shift) {
	prev, seen := memo.swap(s.To)
	if s.Initial {
		// the first pick of this config: compare with the last generation
		if !seen || prev == s.To {
			return
		}
		s.From = prev
		s.FromHealthy = bal.SiteHealthy(s.From)
		if r, ok := paths.Cost(s.From); ok && r.Reachable {
			s.FromCost = r.Cost
		}
	}
	reason := "backends in " + s.To + " are available again"
	switch {
	case s.To == "":
		reason = "no healthy backend in any site"
	case s.From == "":
		reason = "backends are available again"
	case s.Failover():
		reason = "backends in " + s.From + " became unavailable"
	}
	kind := "failback"
	if s.Failover() {
		kind = "failover"
	}
	logger.Info("costlb "+kind,
		zap.String("service", name),
		zap.String("from_site", s.From),
		zap.String("to_site", s.To),
		zap.String("reason", reason))
}
