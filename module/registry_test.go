package module_test

import (
	"fmt"
	"strings"
	"testing"

	_ "github.com/costlb/costlb/module/httppolicy"
	"github.com/costlb/costlb/module/internal/moduletest"
	_ "github.com/costlb/costlb/module/l4handler"
)

// TestHTTPPolicyNameAcrossKinds: an HTTP service may not take a layer4
// service's name.
func TestHTTPPolicyNameAcrossKinds(t *testing.T) {
	cfg := fmt.Sprintf(`{"admin": {"disabled": true}, "apps": {"costlb": %s,
		"layer4": {"servers": {"db": {"listen": ["127.0.0.1:0"], "routes": [{"handle": [{"handler": "costlb", "name": "shop", %s}]}]}}},
		"http": {"servers": {"s": {"listen": ["127.0.0.1:0"], "automatic_https": {"disable": true}, "routes": [{"handle": [%s]}]}}}}}`,
		moduletest.Net, `"backends": [{"site": "east", "dial": ["127.0.0.1:9001"]}]`, `{"handler": "reverse_proxy", "upstreams": [{"dial": "127.0.0.1:9002"}],
		"load_balancing": {"selection_policy": {"policy": "cost", "name": "shop"}}}`)
	err := moduletest.Validate(cfg)
	if err == nil || !strings.Contains(err.Error(), `"shop"`) || !strings.Contains(err.Error(), "must be unique") {
		t.Fatalf("got %v; want the duplicate name refused", err)
	}
}
