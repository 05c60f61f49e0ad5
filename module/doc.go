// Package module holds the costlb Caddy modules: the costlb app (the site
// network), the layer4 handler that balances one service across sites by
// cost, the admin API view and the metrics.
package module
