package httppolicy

import (
	"reflect"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/costlb/costlb/linkgraph"
	"github.com/costlb/costlb/module/internal/moduletest"
)

func TestCostSelectionUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		name, input string
		wantName    string
		wantSites   []SiteUpstreams
		wantLinks   []linkgraph.Link
	}{
		{name: "bare", input: "cost"},
		{name: "empty block", input: "cost {\n}"},
		{name: "spec example", input: `cost {
			name shop
			site west 10.1.0.1:8080
			site dr   10.9.0.1:8080 10.9.0.2
			link_cost east dr 9999
		}`,
			wantName: "shop",
			wantSites: []SiteUpstreams{
				{Site: "west", Upstreams: []string{"10.1.0.1:8080"}},
				{Site: "dr", Upstreams: []string{"10.9.0.1:8080", "10.9.0.2"}},
			},
			wantLinks: []linkgraph.Link{moduletest.Link("east", "dr", 9999)},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got CostSelection
			if err := got.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input)); err != nil {
				t.Fatal(err)
			}
			if got.Name != tc.wantName || !reflect.DeepEqual(got.Sites, tc.wantSites) || !reflect.DeepEqual(got.LinkCosts, tc.wantLinks) {
				t.Fatalf("got name %q sites %+v link costs %v\nwant %q %+v %v", got.Name, got.Sites, got.LinkCosts, tc.wantName, tc.wantSites, tc.wantLinks)
			}
		})
	}
}

func TestCostSelectionUnmarshalCaddyfileInvalid(t *testing.T) {
	tests := []struct {
		name, input string
		want        []string
	}{
		{"argument", "cost shop", []string{`unexpected argument "shop"`, "options go in a block"}},
		{"unknown option", "cost {\n\thealth_uri /h\n}", []string{`unknown option "health_uri"`, "allowed: name, site, link_cost", "reverse_proxy block"}},
		{"name twice", "cost {\n\tname a\n\tname b\n}", []string{`"a"`, "name given twice"}},
		{"name without value", "cost {\n\tname\n}", []string{"name takes exactly one non-empty value"}},
		{"site without anything", "cost {\n\tsite\n}", []string{"site needs a site name", "site <site> <upstream...>"}},
		{"site without upstream", "cost {\n\tsite west\n}", []string{"site west names no upstream"}},
		{"link_cost without cost", "cost {\n\tlink_cost east west\n}", []string{`["east" "west"]`, "link_cost takes <site> <site> <cost>"}},
		{"link_cost bad cost", "cost {\n\tlink_cost east west 0\n}", []string{`cost "0"`, moduletest.CostRule}},
		{"option with block", "cost {\n\tsite west 10.0.0.1:80 {\n\t\tx\n\t}\n}", []string{`"site"`, "does not take a block"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p CostSelection
			err := p.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
			moduletest.CheckErr(t, tc.input, err, tc.want)
		})
	}
}
