package module

import (
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/costlb/costlb/costlb"
	"github.com/costlb/costlb/module/history"
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

// Primary is a service's primary-site memo, held from Provision to
// Cleanup: it logs each change of the service's primary site, comparing
// the first one a config sees with the last one of the generation before.
type Primary struct {
	key     string
	memo    *primaryMemo
	logger  *zap.Logger
	service string
	costs   *SiteCosts // the service's path costs, set before its first pick
}

// HoldPrimary returns the memo of service, known across config generations
// by identity (see Identity); logger logs its shifts. Give it back with
// Release.
func HoldPrimary(identity, service string, logger *zap.Logger) *Primary {
	v, _, _ := primaries.LoadOrNew(identity, func() (caddy.Destructor, error) { return new(primaryMemo), nil })
	return &Primary{key: identity, memo: v.(*primaryMemo), logger: logger, service: service}
}

// Release gives the memo back; it does nothing on nil or a second call.
func (p *Primary) Release() {
	if p == nil || p.key == "" {
		return
	}
	_, _ = primaries.Delete(p.key)
	p.key = ""
}

// Identity names a service the same way across config generations: by
// its name when the config gives one, else by what it balances, kind and
// keys (a default name says only where the service stands among the
// unnamed ones, which a reload may reorder). keys are sorted in place.
func Identity(name string, byDefault bool, kind string, keys []string) string {
	if !byDefault {
		return "name " + strconv.Quote(name)
	}
	slices.Sort(keys)
	return kind + " " + strings.Join(keys, " ")
}

// SiteKey is the key of the backend at addr in site, for Identity.
func SiteKey(site, addr string) string {
	return strconv.Quote(site + " " + AddressKey(addr))
}

// FollowCosts tells LogShift where the service's path costs come from:
// a shift while they change is theirs, not a failback.
func (p *Primary) FollowCosts(sc *SiteCosts) { p.costs = sc }

// LogShift logs s, a change of the service's primary site reported by its
// balancer bal. The memo carries the service's primary site across config
// generations and is what the lines name: a change is logged only when it
// changes the memo, from the site the memo held. So the first primary site
// a service learns (at start, possibly after a first look that found no
// usable backend) is no failback, and of two generations of the service
// that see one change while a reload overlaps them, one logs it.
func (p *Primary) LogShift(bal *costlb.Balancer, s costlb.Shift) {
	prev, known := p.memo.swap(s.To)
	if !known || prev == s.To {
		return
	}
	if prev != s.From {
		// the first pick of this config, or another generation moved the
		// memo: the change is from the site the logs last named
		s.From = prev
		s.FromHealthy = prev != "" && bal.SiteHealthy(prev)
	}
	if !s.Failover() && s.From != "" && p.costs.Shifting() {
		p.logger.Info("costlb primary site changed",
			zap.String("service", p.service), zap.String("from_site", s.From), zap.String("to_site", s.To),
			zap.String("reason", "the path costs changed with a measured link cost"))
		return
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
	p.logger.Info("costlb "+kind,
		zap.String("service", p.service),
		siteField("from_site", s.From),
		siteField("to_site", s.To),
		zap.String("reason", reason))
	History.Add(history.Event{Kind: kind, Service: p.service, From: s.From, To: s.To, Reason: reason})
}

// siteField is a log field naming site, or no field for no site.
func siteField(key, site string) zap.Field {
	if site == "" {
		return zap.Skip()
	}
	return zap.String(key, site)
}
