package module_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/costlb/costlb/linkgraph"
	"github.com/costlb/costlb/module"
)

// TestAppJSONNamesTheLink: a refused link is named by its place in the
// config, with the value and what is allowed; a good app decodes as the
// plain struct would, and an unknown field is still an error.
func TestAppJSONNamesTheLink(t *testing.T) {
	var a module.App
	err := json.Unmarshal([]byte(`{"site": "east", "links": [{"between": ["east", "west"], "cost": 5}, {"between": ["west", "north"], "cost": 0}]}`), &a)
	if err == nil {
		t.Fatal("a link of cost 0 was accepted")
	}
	for _, want := range []string{"apps.costlb.links[1]", "cost 0", "from 1 to 2147483647"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}

	a = module.App{}
	if err := json.Unmarshal([]byte(`{"site": "east", "links": [{"between": ["east", "west"], "cost": 5e0}, {"between": ["west", "north"]}]}`), &a); err != nil {
		t.Fatal(err)
	}
	want := []linkgraph.Link{{Between: [2]string{"east", "west"}, Cost: 5}, {Between: [2]string{"west", "north"}}}
	if a.Site != "east" || len(a.Links) != 2 || a.Links[0] != want[0] || a.Links[1] != want[1] {
		t.Errorf("decoded site %q links %+v, want site east and links %+v", a.Site, a.Links, want)
	}

	a = module.App{}
	if err := json.Unmarshal([]byte(`{"site": "east"}`), &a); err != nil || a.Links != nil {
		t.Errorf("an app without links: links %+v, %v; want no links and no error", a.Links, err)
	}
	if err := json.Unmarshal([]byte(`{"site": "east", "lnks": []}`), &a); err == nil || !strings.Contains(err.Error(), "lnks") {
		t.Errorf("unknown field: error %v, want one naming \"lnks\"", err)
	}
}
