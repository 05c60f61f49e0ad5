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

// primaryMemo is a service's last primary site, shared by every config
// generation of the service: the site the logs last named.
type primaryMemo struct {
	mu    sync.Mutex
	site  string // the last primary site; "" when no backend was usable
	known bool   // a primary site has been recorded since the memo was made
}

// swap records site and returns the one recorded before, and whether a
// primary site (not "") had been recorded before. Until one has, there was
// no site to fail over or back from.
func (m *primaryMemo) swap(site string) (prev string, known bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	prev, known = m.site, m.known
	m.site, m.known = site, m.known || site != ""
	return prev, known
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
// service's primary site across config generations and is what the lines
// name: a change is logged only when it changes the memo, from the site
// the memo held. So the first primary site a service learns (at start,
// possibly after a first look that found no usable backend) is no
// failback, and of two generations of the service that see one change
// while a reload overlaps them, one logs it.
func logPrimaryShift(logger *zap.Logger, name string, memo *primaryMemo, paths *linkgraph.Paths, bal *costlb.Balancer, s costlb.Shift) {
	prev, known := memo.swap(s.To)
	if !known || prev == s.To {
		return
	}
	if prev != s.From {
		// the first pick of this config, or another generation moved the
		// memo: the change is from the site the logs last named
		s.From = prev
		s.FromHealthy = prev != "" && bal.SiteHealthy(prev)
		s.FromCost = 0
		if r, ok := paths.Cost(prev); ok && r.Reachable {
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
	// a line names only real sites: a service that lost every backend has
	// no to_site, one that gets a backend back after that no from_site
	logger.Info("costlb "+kind,
		zap.String("service", name),
		siteField("from_site", s.From),
		siteField("to_site", s.To),
		zap.String("reason", reason))
}

// siteField is a log field naming site, or no field for no site.
func siteField(key, site string) zap.Field {
	if site == "" {
		return zap.Skip()
	}
	return zap.String(key, site)
}
