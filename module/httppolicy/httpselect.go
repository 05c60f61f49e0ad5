package httppolicy

import (
	"net/http"
	"sync/atomic"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
	"go.uber.org/zap"

	"github.com/costlb/costlb/costlb"
	"github.com/costlb/costlb/module"
)

// maxDynamicPools bounds the balancers a service keeps for dynamic pools
// (distinct sets of upstream addresses); past it they are dropped and
// rebuilt on demand.
const maxDynamicPools = 64

// refusedVar marks, in a request's vars, that the request met no available
// upstream, so that a retry does not count it again.
const refusedVar = "costlb.no_backend"

// poolBalancer balances one pool of upstreams: the reverse_proxy's static
// upstreams, or one set of dynamic upstream addresses. Each address is one
// backend: an address a dynamic source returns more than once is balanced
// once (a repeat is not a weight), through its first place in the pool.
type poolBalancer struct {
	bal   *costlb.Balancer
	dials []string // the pool's dial addresses, repeats included
	first []int    // per backend, its upstream's index in the pool
	hash  uint64
	// slots hold, per backend, the upstream whose state the balancer's
	// probes read: dynamic upstreams are new values on every request, so
	// each request puts its own there (any of them gives the same answer:
	// they share the address's host and the handler's health policy).
	slots  []atomic.Pointer[reverseproxy.Upstream]
	totals []*atomic.Uint64 // requests sent, per backend (the service's count)
}

// newPoolBalancer builds the balancer of pool, placing each upstream in
// its site. An address repeated in pool is one backend.
func (p *CostSelection) newPoolBalancer(pool []*reverseproxy.Upstream, static bool) (*poolBalancer, error) {
	pb := &poolBalancer{dials: make([]string, len(pool)), hash: poolHash(pool)}
	seen := make(map[string]bool, len(pool))
	for i, u := range pool {
		pb.dials[i] = u.Dial
		if key := module.AddressKey(u.Dial); !seen[key] {
			seen[key] = true
			pb.first = append(pb.first, i)
		}
	}
	pb.slots = make([]atomic.Pointer[reverseproxy.Upstream], len(pb.first))
	pb.totals = make([]*atomic.Uint64, len(pb.first))
	bes := make([]costlb.Backend, len(pb.first))
	for i, at := range pb.first {
		u, slot := pool[at], &pb.slots[i]
		slot.Store(u)
		site := p.siteFor(u.Dial)
		route, _ := p.paths.Cost(site)
		bes[i] = costlb.Backend{
			Site:     site,
			Address:  u.Dial,
			PathCost: route.Cost,
			Path:     p.siteCosts.Cell(site),
			MaxConns: int64(p.maxRequests(u)),
			Load:     func() int64 { return inFlight(slot.Load()) },
			Healthy:  func() bool { return slot.Load().Healthy() },
		}
		p.capacity(&bes[i], u, static)
		pb.totals[i] = p.total(u.Dial)
	}
	var err error
	pb.bal, err = costlb.New(bes, func(s costlb.Shift) { p.primary.LogShift(pb.bal, s) })
	if err != nil {
		return nil, err
	}
	pb.bal.SetSlowStart(time.Duration(p.SlowStart), nil)
	return pb, nil
}

// inFlight returns Caddy's count of u's in-flight requests.
func inFlight(u *reverseproxy.Upstream) int64 {
	if u.Host == nil { // not provisioned yet: no request can be in flight
		return 0
	}
	return int64(u.NumRequests())
}

// maxRequests returns u's request cap as Caddy's Available applies it:
// its max_requests, else the passive checks' unhealthy_request_count.
func (p *CostSelection) maxRequests(u *reverseproxy.Upstream) int {
	if u.MaxRequests > 0 {
		return u.MaxRequests
	}
	if u.MaxRequests == 0 {
		return p.defaultMax
	}
	return 0
}

// total returns the service's request count of upstream address dial.
func (p *CostSelection) total(dial string) *atomic.Uint64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	c, ok := p.totals[dial]
	if !ok {
		c = new(atomic.Uint64)
		p.totals[dial] = c
	}
	return c
}

// poolHash hashes the dial addresses of pool (FNV-1a), without allocating.
func poolHash(pool []*reverseproxy.Upstream) uint64 {
	h := uint64(14695981039346656037)
	for _, u := range pool {
		for i := 0; i < len(u.Dial); i++ {
			h = (h ^ uint64(u.Dial[i])) * 1099511628211
		}
		h = (h ^ 0xff) * 1099511628211 // separator
	}
	return h
}

// matches reports whether pool has pb's addresses, in order.
func (pb *poolBalancer) matches(pool []*reverseproxy.Upstream) bool {
	if len(pool) != len(pb.dials) {
		return false
	}
	for i, u := range pool {
		if u.Dial != pb.dials[i] {
			return false
		}
	}
	return true
}

// adopt points the probes at pool's upstreams.
func (pb *poolBalancer) adopt(pool []*reverseproxy.Upstream) {
	for i, at := range pb.first {
		if u := pool[at]; pb.slots[i].Load() != u {
			pb.slots[i].Store(u)
		}
	}
}

// Select picks the available upstream of pool with the lowest perceived
// cost. Caddy counts the request on the upstream when it proxies it.
func (p *CostSelection) Select(pool reverseproxy.UpstreamPool, r *http.Request, _ http.ResponseWriter) *reverseproxy.Upstream {
	pb := p.balancerFor(pool)
	if pb == nil {
		p.noteRefused(r)
		return nil
	}
	i := module.Pick(pb.bal, nil, p.pickLog)
	if i < 0 {
		p.noteRefused(r)
		return nil
	}
	pb.totals[i].Add(1)
	return pool[pb.first[i]]
}

// balancerFor returns the balancer of pool: the static one for the
// reverse_proxy's own upstreams, else the one built for the same dynamic
// addresses. Only a pool not seen before allocates.
func (p *CostSelection) balancerFor(pool reverseproxy.UpstreamPool) *poolBalancer {
	if len(pool) == 0 {
		return nil
	}
	if s := p.static; s != nil && len(pool) == len(p.staticPool) && &pool[0] == &p.staticPool[0] {
		p.use(s)
		return s
	}
	if pb := p.current.Load(); pb != nil && pb != p.static && pb.matches(pool) {
		pb.adopt(pool)
		return pb
	}
	return p.dynamicBalancer(pool)
}

// dynamicBalancer finds or builds the balancer of a dynamic pool.
func (p *CostSelection) dynamicBalancer(pool reverseproxy.UpstreamPool) *poolBalancer {
	h := poolHash(pool)
	p.mu.Lock()
	found := p.findDynamic(pool, h)
	p.mu.Unlock()
	if found == nil {
		pb, err := p.newPoolBalancer(pool, false)
		if err != nil {
			p.logger.Error("building the balancer of dynamic upstreams", zap.Error(err))
			return nil
		}
		p.mu.Lock()
		if found = p.findDynamic(pool, h); found == nil {
			if len(p.dynamic) >= maxDynamicPools {
				p.dynamic = p.dynamic[:0]
			}
			p.dynamic = append(p.dynamic, pb)
			found = pb
		}
		p.mu.Unlock()
	}
	found.adopt(pool)
	p.use(found)
	return found
}

// findDynamic returns the balancer built for pool, whose hash is h, or
// nil; p.mu must be held.
func (p *CostSelection) findDynamic(pool reverseproxy.UpstreamPool, h uint64) *poolBalancer {
	for _, pb := range p.dynamic {
		if pb.hash == h && pb.matches(pool) {
			return pb
		}
	}
	return nil
}

// use makes pb the pool the view shows.
func (p *CostSelection) use(pb *poolBalancer) {
	if p.current.Load() != pb {
		p.current.Store(pb)
	}
}

// noteRefused counts a request that met no available upstream, once per
// request (a retry within lb_try_duration does not count again).
func (p *CostSelection) noteRefused(r *http.Request) {
	if r != nil {
		if caddyhttp.GetVar(r.Context(), refusedVar) != nil {
			return
		}
		caddyhttp.SetVar(r.Context(), refusedVar, true)
	}
	p.refused.Inc()
}
