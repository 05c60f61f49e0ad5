// Package integration holds costlb's end-to-end tests. They start real Caddy
// processes, built from this tree by ./harness (./cmd/caddy: Caddy's standard
// modules, caddy-l4 and costlb), in front of in-process TCP test backends on
// 127.0.0.1, and drive them through TCP clients and the admin API. The
// lab_* tests run Caddy and backends in the sites of a real multi-site
// network on this machine (./netlab, docs/test-network.md), where links
// have real delays and can be cut.
//
// Set COSTLB_CADDY to the path of a prebuilt binary (CI builds one with
// ../xcaddy.sh) to skip the build; otherwise the first test builds
// ./cmd/caddy once per test process, which takes about 90 s on a cold cache.
package integration
