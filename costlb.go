// Package costlbplugin is the import path xcaddy builds into Caddy: it plugs in
// the costlb app, its layer4 handler, the reverse_proxy selection policy
// "cost", admin API and Caddyfile support.
//
// Build a Caddy with it:
//
//	xcaddy build --with github.com/mholt/caddy-l4@v0.1.2 --with github.com/costlb/costlb
package costlbplugin

import (
	// the costlb app, admin API, costlb_status handler and global option
	_ "github.com/costlb/costlb/module"
	// the layer4 handler layer4.handlers.costlb
	_ "github.com/costlb/costlb/module/l4handler"
	// the reverse_proxy selection policy lb_policy cost
	_ "github.com/costlb/costlb/module/httppolicy"
)
