package httppolicy

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	cfile "github.com/costlb/costlb/caddyfile"
	"github.com/costlb/costlb/costlb"
	"github.com/costlb/costlb/module"
)

// UpstreamWeight gives one upstream a weight.
type UpstreamWeight struct {
	// Upstream is the upstream's address as the reverse_proxy dials it
	// (host:port).
	Upstream string `json:"upstream"`
	// Weight is what the upstream can take relative to the others: a
	// whole number from 1 to 1000 (default 1). Its in-flight requests count
	// as requests ÷ weight. It is kept as the config writes it and read at
	// provisioning, so that a refused value is named with its place.
	Weight json.RawMessage `json:"weight"`
}

// checkWeights reads the weights and indexes them by address. Without
// dynamic upstreams, each must name one of rp's static upstreams.
func (p *CostSelection) checkWeights(rp *reverseproxy.Handler) error {
	static := map[string]bool{}
	var dials []string
	for _, u := range rp.Upstreams {
		static[module.AddressKey(u.Dial)] = true
		dials = append(dials, u.Dial)
	}
	p.weights = make(map[string]int64, len(p.Weights))
	for i, w := range p.Weights {
		where := fmt.Sprintf("weight for %q (JSON: weights[%d])", w.Upstream, i)
		if err := module.CheckDialAddress(w.Upstream); err != nil {
			return fmt.Errorf("%s: %w", where, err)
		}
		key := module.AddressKey(w.Upstream)
		if rp.DynamicUpstreamsRaw == nil && !static[key] {
			return fmt.Errorf("%s: %q is not one of this reverse_proxy's upstreams (%s): a weight names an upstream as it is dialed (host:port)",
				where, w.Upstream, strings.Join(dials, ", "))
		}
		if _, dup := p.weights[key]; dup {
			return fmt.Errorf("%s: the upstream is given a weight twice: give it once", where)
		}
		if w.Weight == nil {
			return fmt.Errorf("%s: no weight: %s", where, cfile.WeightRule)
		}
		n, err := cfile.ParseWeight(w.Weight)
		if err != nil {
			return fmt.Errorf("upstream %q: %w (JSON: weights[%d].weight)", w.Upstream, err, i)
		}
		p.weights[key] = n
	}
	return nil
}

// capacity gives the backend of upstream u its weight and, for a static
// upstream with slow start on, its process-wide ramp, held until Cleanup.
// A dynamic upstream's ramp is the balancer's own: dynamic pools come and
// go with the resolver's answers, so no pool holds a shared ramp.
func (p *CostSelection) capacity(be *costlb.Backend, u *reverseproxy.Upstream, static bool) {
	be.Weight = p.weights[module.AddressKey(u.Dial)]
	if static && p.SlowStart > 0 {
		r := module.Ramps.Hold(module.AddressKey(u.Dial))
		p.ramps = append(p.ramps, r)
		be.Ramp = r
	}
}

// releaseRamps gives back the ramps capacity held.
func (p *CostSelection) releaseRamps() {
	for _, r := range p.ramps {
		module.Ramps.Release(r)
	}
	p.ramps = nil
}

// unmarshalWeight reads "weight <upstream> <n>" at d's current token.
func (p *CostSelection) unmarshalWeight(d *caddyfile.Dispenser) error {
	args := d.RemainingArgs()
	if len(args) != 2 {
		return d.Errf("lb_policy cost: weight takes an upstream and a weight: weight <upstream> <1-%d>, got %q", costlb.MaxWeight, args)
	}
	w, err := cfile.WeightLiteral(d, "lb_policy cost: upstream "+args[0], args[1], "weights[].weight")
	if err != nil {
		return err
	}
	p.Weights = append(p.Weights, UpstreamWeight{Upstream: args[0], Weight: w})
	return nil
}
