// Package harness starts the pieces that costlb's integration tests and load
// programs need: a real Caddy process built from this tree (with caddy-l4 and
// costlb plugged in), plain TCP test backends that greet with their name and
// then echo, and small clients that read that greeting through the proxy.
//
// Everything binds to 127.0.0.1 only (or, through the options a test on the
// multi-site lab passes, ../netlab, to a lab site's address inside its
// namespace), every wait is bounded, and everything a helper starts is
// stopped by a testing.TB Cleanup, so no process, listener or goroutine
// outlives the test that made it.
//
// The Caddy binary is $COSTLB_CADDY when set (CI builds it with ../../xcaddy.sh),
// otherwise it is built once per test process from ./integration/cmd/caddy.
package harness
