// Package module holds the costlb Caddy modules: the costlb app (the site
// network), the layer4 handler that balances one service across sites by
// cost, the same balancing as a selection policy of Caddy's reverse_proxy
// (lb_policy cost), the admin API view, the status handler and the metrics.
package module
