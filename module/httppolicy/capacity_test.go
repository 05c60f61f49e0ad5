package httppolicy

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/costlb/costlb/module"
	"github.com/costlb/costlb/module/internal/moduletest"
)

func TestCapacityCaddyfile(t *testing.T) {
	var p CostSelection
	err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser("cost {\n\tweight 127.0.0.1:9001 3\n\tweight 127.0.0.1:9002 1\n\tslow_start 10s\n}"))
	if err != nil {
		t.Fatal(err)
	}
	want := []UpstreamWeight{{"127.0.0.1:9001", json.RawMessage("3")}, {"127.0.0.1:9002", json.RawMessage("1")}}
	if !reflect.DeepEqual(p.Weights, want) || p.SlowStart != caddy.Duration(10*time.Second) {
		t.Fatalf("weights %+v slow_start %v; want %+v, 10s", p.Weights, p.SlowStart, want)
	}
}

func TestCapacityCaddyfileInvalid(t *testing.T) {
	for _, tc := range []struct {
		name, input string
		want        []string
	}{
		{"weight 0", "cost {\n\tweight 127.0.0.1:9001 0\n}", []string{`lb_policy cost: upstream 127.0.0.1:9001: weight "0" is too small`, "from 1 to 1000", "weights[].weight", "Testfile:2"}},
		{"weight 1001", "cost {\n\tweight 127.0.0.1:9001 1001\n}", []string{`weight "1001" is too large`}},
		{"weight x", "cost {\n\tweight 127.0.0.1:9001 x\n}", []string{`weight "x" is not a number`}},
		{"weight without a number", "cost {\n\tweight 127.0.0.1:9001\n}", []string{"weight takes an upstream and a weight"}},
		{"slow_start 0", "cost {\n\tslow_start 0\n}", []string{`slow_start "0": must be a positive duration`}},
		{"unknown option lists them", "cost {\n\tweights a 1\n}", []string{"allowed: name, site, link_cost, weight, slow_start"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p CostSelection
			moduletest.CheckErr(t, tc.input, p.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input)), tc.want)
		})
	}
}

func TestCapacityRejects(t *testing.T) {
	proxy := func(policy string) string { return hpConfig(moduletest.Net, hpProxy(hpUps, "", policy)) }
	for _, tc := range []struct {
		name, config string
		want         []string
	}{
		{"weight 0", proxy(`"weights": [{"upstream": "127.0.0.1:9001", "weight": 0}]`),
			[]string{`upstream "127.0.0.1:9001": weight 0 is too small`, "from 1 to 1000", "(JSON: weights[0].weight)"}},
		{"weight 1001", proxy(`"weights": [{"upstream": "127.0.0.1:9001", "weight": 2}, {"upstream": "127.0.0.1:9002", "weight": 1001}]`),
			[]string{`upstream "127.0.0.1:9002": weight 1001 is too large`, "(JSON: weights[1].weight)"}},
		{"weight x", proxy(`"weights": [{"upstream": "127.0.0.1:9001", "weight": "x"}]`), []string{`weight "x" is not a number`}},
		{"weight missing", proxy(`"weights": [{"upstream": "127.0.0.1:9001"}]`), []string{`weight for "127.0.0.1:9001" (JSON: weights[0]): no weight`}},
		{"upstream not in the pool", proxy(`"weights": [{"upstream": "127.0.0.1:9999", "weight": 2}]`),
			[]string{`"127.0.0.1:9999" is not one of this reverse_proxy's upstreams`, "127.0.0.1:9001, 127.0.0.1:9002, 127.0.0.2:9003"}},
		{"upstream twice", proxy(`"weights": [{"upstream": "127.0.0.1:9001", "weight": 2}, {"upstream": "127.0.0.1:9001", "weight": 3}]`),
			[]string{`weight for "127.0.0.1:9001" (JSON: weights[1])`, "a weight twice"}},
		{"malformed upstream", proxy(`"weights": [{"upstream": "127.0.0.1", "weight": 2}]`), []string{`"127.0.0.1"`, "host:port"}},
		{"slow_start negative", proxy(`"slow_start": -1000000000`), []string{"slow_start -1s", "(JSON: slow_start)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := moduletest.Validate(tc.config)
			moduletest.CheckErr(t, tc.config, err, tc.want)
		})
	}
}

// TestCapacityView: the view shows each upstream's weight, and slow start
// holds a process-wide ramp per static upstream until Cleanup.
func TestCapacityView(t *testing.T) {
	before := module.Ramps.Len()
	p := loadHTTP(t, hpConfig(moduletest.Net, hpProxy(hpUps, "", `"name": "w", "slow_start": "10s", "weights": [{"upstream": "127.0.0.1:9002", "weight": 3}]`)), "w")
	var got []int64
	for _, b := range p.View().Backends {
		got = append(got, b.Weight)
		if b.SlowStart != nil {
			t.Errorf("%s ramps at start", b.Address)
		}
	}
	if !reflect.DeepEqual(got, []int64{1, 3, 1}) {
		t.Errorf("weights %v, want [1 3 1]", got)
	}
	if n := module.Ramps.Len() - before; n != len(hpUps) {
		t.Errorf("%d ramps held, want %d", n, len(hpUps))
	}
}

// TestCapacityDynamicWeights: with dynamic upstreams, a weight names an
// address the source may return; the pool's balancer gives it that weight.
func TestCapacityDynamicWeights(t *testing.T) {
	p := loadHTTP(t, hpConfig(moduletest.Net, `{"handler": "reverse_proxy",
		"dynamic_upstreams": {"source": "a", "name": "localhost", "port": "9001"},
		"load_balancing": {"selection_policy": {"policy": "cost", "name": "dynw", "weights": [{"upstream": "10.0.0.2:80", "weight": 4}]}}}`), "dynw")
	pool := reverseproxy.UpstreamPool{{Dial: "10.0.0.1:80"}, {Dial: "10.0.0.2:80"}}
	if p.Select(pool, nil, nil) == nil {
		t.Fatal("no upstream selected")
	}
	var got []int64
	for _, b := range p.View().Backends {
		got = append(got, b.Weight)
	}
	if !reflect.DeepEqual(got, []int64{1, 4}) {
		t.Fatalf("weights of the dynamic pool %v, want [1 4]", got)
	}
}
