// Package module is the costlb app, Caddy's "costlb": the site network,
// the registry of the config's services (a Service of either kind), the
// admin API view, the costlb_status handler and page, the metrics they
// share and the primary-site memo. The kinds of service are packages of
// their own that register with it: the layer4 handler (module/l4handler)
// and the reverse_proxy selection policy lb_policy cost
// (module/httppolicy). This package imports neither.
package module
