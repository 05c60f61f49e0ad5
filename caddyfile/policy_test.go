package caddyfile_test

import (
	"reflect"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	cfile "github.com/costlb/costlb/caddyfile"
	"github.com/costlb/costlb/linkgraph"
)

func TestParsePolicyValid(t *testing.T) {
	tests := []struct {
		name, input string
		want        cfile.Policy
	}{
		{"bare", "cost", cfile.Policy{}},
		{"empty block", "cost {\n}", cfile.Policy{}},
		{"spec example", `cost {
			name shop
			site west 10.1.0.1:8080
			site dr   10.9.0.1:8080 10.9.0.2
			link_cost east dr 9999
		}`, cfile.Policy{
			Name: "shop",
			Sites: []cfile.PolicySite{
				{Site: "west", Upstreams: []string{"10.1.0.1:8080"}},
				{Site: "dr", Upstreams: []string{"10.9.0.1:8080", "10.9.0.2"}},
			},
			LinkCosts: []linkgraph.Link{lk("east", "dr", 9999)},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := cfile.ParsePolicy(caddyfile.NewTestDispenser(tc.input))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tc.want) {
				t.Fatalf("got %+v\nwant %+v", *got, tc.want)
			}
		})
	}
}

func TestParsePolicyErrors(t *testing.T) {
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
		{"link_cost bad cost", "cost {\n\tlink_cost east west 0\n}", []string{`cost "0"`, costRule}},
		{"option with block", "cost {\n\tsite west 10.0.0.1:80 {\n\t\tx\n\t}\n}", []string{`"site"`, "does not take a block"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := cfile.ParsePolicy(caddyfile.NewTestDispenser(tc.input))
			checkErr(t, tc.input, err, tc.want)
		})
	}
}
