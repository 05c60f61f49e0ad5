package harness

// CaddyOption changes how StartCaddy runs a Caddy.
type CaddyOption func(*caddyOptions)

type caddyOptions struct {
	prefix    []string // command run in front of the caddy binary
	adminHost string   // host of the admin address; "127.0.0.1" if empty
}

// WithCommandPrefix runs Caddy as prefix followed by the caddy command line,
// e.g. "ip", "netns", "exec", "<ns>" to run it inside a network namespace.
// The prefix must exec the caddy binary in its own process (as
// "ip netns exec" does), so that the process StartCaddy watches, signals
// and inspects is Caddy itself.
func WithCommandPrefix(prefix ...string) CaddyOption {
	return func(o *caddyOptions) { o.prefix = append([]string(nil), prefix...) }
}

// WithAdminHost puts the admin endpoint on host (an IP address the test
// process can reach) instead of 127.0.0.1: for a Caddy whose 127.0.0.1 is
// not the test's, one in another network namespace.
func WithAdminHost(host string) CaddyOption {
	return func(o *caddyOptions) { o.adminHost = host }
}
