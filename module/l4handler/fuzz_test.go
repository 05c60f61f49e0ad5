package l4handler

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/costlb/costlb/linkgraph"
	"github.com/costlb/costlb/module"
)

// fzMaxInput bounds one fuzz input so that each exec stays fast.
const fzMaxInput = 1 << 14

// fzSafeTLS are the upstream TLS fields kept in fuzzed handlers; the others
// (CA pools, client certificates) can read files, fetch URLs or start the
// tls app, which a fuzz exec must not do.
var fzSafeTLS = map[string]bool{
	"server_name": true, "insecure_skip_verify": true, "handshake_timeout": true,
	"renegotiation": true, "except_ports": true, "curves": true,
}

// fzConfig builds a Caddy config from a fuzzed costlb app (omitted when
// blank) and a fuzzed handler object, made a costlb handler. It drops what
// would make a validation touch the network or the disk: active health
// checks (they dial every backend at once) and TLS fields beyond the plain
// ones. ok is false for input Caddy would refuse as JSON before costlb sees
// it.
func fzConfig(app, handler []byte) (cfg []byte, ok bool) {
	if len(app)+len(handler) > fzMaxInput {
		return nil, false
	}
	app = bytes.TrimSpace(app)
	if len(app) > 0 && !json.Valid(app) {
		return nil, false
	}
	var h map[string]json.RawMessage
	if err := json.Unmarshal(handler, &h); err != nil || h == nil {
		return nil, false
	}
	h["handler"] = json.RawMessage(`"costlb"`)
	if raw, ok := h["health_checks"]; ok {
		var hc map[string]json.RawMessage
		if json.Unmarshal(raw, &hc) == nil && hc != nil {
			delete(hc, "active")
			h["health_checks"], _ = json.Marshal(hc)
		}
	}
	if raw, ok := h["backends"]; ok {
		var bes []map[string]json.RawMessage
		if json.Unmarshal(raw, &bes) == nil {
			for _, b := range bes {
				if b == nil {
					continue
				}
				if traw, ok := b["tls"]; ok {
					var tls map[string]json.RawMessage
					if json.Unmarshal(traw, &tls) == nil && tls != nil {
						for k := range tls {
							if !fzSafeTLS[k] {
								delete(tls, k)
							}
						}
						b["tls"], _ = json.Marshal(tls)
					}
				}
			}
			h["backends"], _ = json.Marshal(bes)
		}
	}
	hb, err := json.Marshal(h)
	if err != nil {
		return nil, false
	}
	var b bytes.Buffer
	b.WriteString(`{"apps": {`)
	if len(app) > 0 {
		b.WriteString(`"costlb": `)
		b.Write(app)
		b.WriteString(`, `)
	}
	b.WriteString(`"layer4": {"servers": {"fuzz": {"listen": ["127.0.0.1:0"], "routes": [{"handle": [`)
	b.Write(hb)
	b.WriteString(`]}]}}}}}`)
	return b.Bytes(), true
}

// fzSeeds are app and handler pairs: the README example and the bad inputs of
// the config error list.
var fzSeeds = [][2]string{
	{`{"site": "east", "links": [{"between": ["east", "west"], "cost": 5}, {"between": ["west", "north"]}]}`,
		`{"handler": "costlb", "name": "orders-db", "backends": [{"site": "east", "dial": ["10.0.0.1:5432"]}, {"site": "west", "dial": ["10.1.0.1:5432"], "max_connections": 100}], "link_costs": [{"between": ["east", "west"], "cost": 9999}], "health_checks": {"active": {"interval": "2s", "timeout": "1s"}, "passive": {"fail_duration": "10s"}}, "load_balancing": {"try_duration": "3s"}}`},
	{``, `{"backends": [{"site": "east", "dial": ["127.0.0.1:1"]}]}`},
	{`{}`, `{}`},
	{`{"site": "東京", "links": [{"between": ["東京", "大阪"], "cost": 2147483647}]}`, `{"backends": [{"site": "大阪", "dial": ["127.0.0.1:1", "[::1]:2"], "tls": {"server_name": "x", "ca": {"provider": "inline"}}}]}`},
	{`{"site": "east", "links": [{"between": ["east", "east"]}, {"between": ["a", "b"], "cost": 0}]}`, `{"backends": [{"site": "a", "dial": ["127.0.0.1:1"]}]}`},
	{`{"site": "east", "links": [{"between": ["east", "west"], "cost": "5"}, {"between": ["west", "east"], "cost": 1.5}]}`, `{"backends": []}`},
	{`{"site": "east", "links": [{"between": ["east", "west"]}, {"between": ["x", "y"], "cost": 1e3}]}`, `{"backends": [{"site": "x", "dial": ["127.0.0.1"]}, null]}`},
	{`{"site": "east", "links": [{"between": ["east", "west"], "cost": 99999999999}]}`, `{"backends": {}}`},
	{`{"site": "east coast"}`, `{"backends": [{"site": "east coast", "dial": ["{env.X}:1", "127.0.0.1:1-9", "127.0.0.1:99999", ""]}]}`},
	{`{"site": "east", "links": [{"between": ["east", "west"]}]}`, `{"backends": [{"site": "east", "dial": ["127.0.0.1:1"]}, {"site": "west", "dial": ["tcp/127.0.0.1:1"]}], "link_costs": [{"between": ["east", "north"], "cost": 3}]}`},
	{`{"site": "east", "links": [{"between": ["east", "west"]}]}`, `{"backends": [{"site": "east", "dial": ["127.0.0.1:1"]}], "load_balancing": {"selection": {"policy": "round_robin"}, "try_duration": 5}}`},
	{`{"site": "east", "links": [{"between": ["east", "west"]}]}`, `{"backends": [{"site": "west", "dial": ["unix//tmp/x.sock"], "max_connections": -1}], "link_costs": [{"between": ["west", "east"], "cost": 7}], "proxy_protocol": "v3"}`},
	{`{"site": "east", "extra": 1}`, `{"backends": [{"site": "east", "dial": "127.0.0.1:1"}], "bogus": true}`},
	{`[1, 2]`, `{"name": "", "backends": [{"site": 5}]}`},
	{`{"site": "east"}`, `{"backends": [{"site": "east", "dial": ["127.0.0.1:1"], "tls": {"handshake_timeout": -1}}], "health_checks": {"active": {"interval": "-1s"}, "passive": {"fail_duration": -1}}, "load_balancing": {"try_duration": "-5s", "try_interval": -1}}`},
}

// FuzzProvisionJSON decodes and validates arbitrary costlb JSON the way Caddy
// does (caddy validate, POST /load): it must never panic, never start
// anything, and accept only configs that satisfy the contract.
func FuzzProvisionJSON(f *testing.F) {
	for _, s := range fzSeeds {
		f.Add([]byte(s[0]), []byte(s[1]))
	}
	f.Fuzz(func(t *testing.T, app, handler []byte) {
		cfgJSON, ok := fzConfig(app, handler)
		if !ok {
			return
		}
		var cfg *caddy.Config
		if err := caddy.StrictUnmarshalJSON(cfgJSON, &cfg); err != nil {
			return
		}
		before := module.RunningApp()
		err := caddy.Validate(cfg)
		if module.RunningApp() != before {
			t.Fatal("caddy.Validate started a costlb app")
		}
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		fzCheckAccepted(t, cfgJSON)
	})
}

// fzCheckAccepted checks, independently of the module's code paths, that an
// accepted config satisfies the README's contract.
func fzCheckAccepted(t *testing.T, cfgJSON []byte) {
	t.Helper()
	var cfg struct {
		Apps struct {
			Costlb *module.App `json:"costlb"`
			Layer4 struct {
				Servers map[string]struct {
					Routes []struct {
						Handle []*Handler `json:"handle"`
					} `json:"routes"`
				} `json:"servers"`
			} `json:"layer4"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(cfgJSON, &cfg); err != nil {
		t.Fatalf("accepted config does not decode: %v\n%s", err, cfgJSON)
	}
	app := cfg.Apps.Costlb
	if app == nil || app.Site == "" {
		t.Fatalf("accepted without a local site:\n%s", cfgJSON)
	}
	net, err := linkgraph.New(app.Site, app.Links)
	if err != nil {
		t.Fatalf("accepted an invalid network: %v\n%s", err, cfgJSON)
	}
	h := cfg.Apps.Layer4.Servers["fuzz"].Routes[0].Handle[0]
	if len(h.Backends) == 0 {
		t.Fatalf("accepted a service with no backends:\n%s", cfgJSON)
	}
	if lb := h.LoadBalancing; lb != nil && lb.SelectionPolicyRaw != nil {
		t.Fatalf("accepted a selection policy:\n%s", cfgJSON)
	}
	fzCheckOptions(t, h, cfgJSON)
	paths, err := net.Paths(h.LinkCosts)
	if err != nil {
		t.Fatalf("accepted invalid link_costs: %v\n%s", err, cfgJSON)
	}
	seen := map[string]bool{}
	for i, b := range h.Backends {
		if b == nil {
			t.Fatalf("accepted a null backend %d:\n%s", i, cfgJSON)
		}
		if r, ok := paths.Cost(b.Site); !ok || !r.Reachable {
			t.Fatalf("accepted backend %d in site %q, unknown or unreachable:\n%s", i, b.Site, cfgJSON)
		}
		if len(b.Dial) == 0 {
			t.Fatalf("accepted backend %d with no address:\n%s", i, cfgJSON)
		}
		for _, addr := range b.Dial {
			if strings.ContainsAny(addr, "{}") {
				t.Fatalf("accepted address %q with a placeholder", addr)
			}
			na, err := caddy.ParseNetworkAddress(addr)
			if err != nil {
				t.Fatalf("accepted malformed address %q: %v", addr, err)
			}
			if na.PortRangeSize() != 1 || (!na.IsUnixNetwork() && na.StartPort == 0) {
				t.Fatalf("accepted address %q without exactly one port", addr)
			}
			if seen[na.String()] {
				t.Fatalf("accepted address %q twice:\n%s", addr, cfgJSON)
			}
			seen[na.String()] = true
		}
	}
}
