package main

// methodText is the end of docs/benchmarks.md: what runs, what is
// measured, caveats, how to run it.
const methodText = `
## What runs

- **Backends**: two TCP echo servers, "east" and "west", on 127.0.0.1. By
  default they run in a child process (loadbench re-executes itself with
  ` + "`LOADBENCH_ECHO_CHILD=1`" + `), so they do not share the Go scheduler and
  garbage collector with the load-generating clients; ` + "`-inproc-backends`" + ` runs
  them in the loadbench process instead.
- **Caddy**: one process, built from this tree (caddy-l4 + costlb), with one
  layer4 listener per Caddy target; all use the same two backends. Only one
  target is loaded at a time, so the idle listeners cost nothing. Global
  option ` + "`costlb { site east; link east west 5 }`" + `; the costlb route is
  ` + "`costlb { backend east ADDR1; backend west ADDR2 }`" + `; the proxy routes are
  ` + "`proxy { lb_policy least_conn|random; upstream ADDR1; upstream ADDR2 }`" + `.
  No health checks on the Caddy targets.
- **HAProxy** (only if the ` + "`haproxy`" + ` binary is installed; loadbench installs
  nothing and otherwise prints "haproxy not installed: apt-get install
  haproxy" and skips it): ` + "`mode tcp`" + `, ` + "`balance leastconn`" + `, ` + "`server east ADDR1 check`" + `,
  ` + "`server west ADDR2 check backup`" + `, run in the foreground (` + "`haproxy -db`" + `) with its
  default threads (one per CPU), ` + "`maxconn 9000`, `maxpipes 500`" + `. ` + "`haproxy-splice`" + ` is a second
  HAProxy with the same config plus ` + "`option splice-request`" + ` and
  ` + "`option splice-response`" + ` (kernel splicing in both directions, HAProxy's
  fastest bulk path). On Debian 12: ` + "`apt-get update && apt-get install -y haproxy`" + ` (2.6).
- **costlb-before** (only with ` + "`-caddy-before BIN`" + `): a second Caddy, built
  from an earlier costlb, with the same costlb config: "today's" costlb
  for the goals. Without it, caddy-l4's ` + "`proxy`" + ` stands in (the data path
  costlb used before was caddy-l4's proxy's).
- **direct**: the clients dial the east backend itself: the ceiling for this
  machine, clients and backends.
- **l4-echo**: a layer4 listener of the same Caddy whose route is caddy-l4's
  ` + "`echo`" + ` handler: it echoes itself, with no backend. Its CPU per
  connection is what caddy-l4 spends to accept and route a connection
  before any handler proxies it, a floor for costlb and caddy-l4's ` + "`proxy`" + `;
  but caddy-l4 also logs an error for every connection its handler ends
  with an error, here every churn cycle (the client's reset), which was
  about 13% of its CPU per connection in a profile (costlb logs nothing
  for a client's reset).
- **go-proxy** (only when named in ` + "`-targets`" + `): loadbench re-executes
  itself as a minimal Go TCP proxy to the east backend, no Caddy: Go's
  accept, a net.Dialer dial, ` + "`io.Copy`" + ` each way (which splices),
  half-closes passed on, a reset after an error. Its CPU per connection
  is what Go's net stack and runtime cost to proxy a connection, the part
  of any Caddy target's cost that a layer4 handler cannot cut.
- **Child targets**: go-proxy and any other proxy written in Go for the
  comparison run as loadbench re-executed (` + "`LOADBENCH_CHILD_TARGET=NAME`" + `),
  one process per target, proxying to the east backend; the idle
  measurement starts a fresh one of its own for each.

## What is measured

- **Connection churn**, for each concurrency c: c clients each repeat connect,
  write 64 bytes, read the 64 bytes echoed, close, for one window.
  conn/s = cycles completed within the window ÷ window. Latency is from the
  start of connect to the first echoed byte, so it includes the proxy's
  accept, its backend pick and its dial to the backend; p50/p99 are over all
  cycles of one measurement. With closed-loop clients, latency at high
  concurrency is mostly queueing (p50 ≈ c ÷ conn/s).
- **Bulk throughput**: c long connections are opened and each has one
  byte echoed through the proxy before any of them streams, so every
  stream is established up to its backend before the clock starts; then
  each writes 32 KiB chunks and reads the echo concurrently. After a ramp-up
  as long as the window, at most 1 s (HAProxy carries 128 new streams at
  its pace within 100 ms; the Go proxies, costlb included, climb to theirs
  over 0.3–1 s, which this leaves out), the bytes echoed back during the
  window give MB/s, and the
  proxy's CPU time over the bytes echoed its CPU per GB. During the window
  a probe makes one connection at a time (connect, 64 bytes echoed, close,
  20 ms pause): its connect-to-echo latency is the **dial latency in
  bulk**, what a new client meets while the proxy is saturated (a probe
  that fails or takes over 5 s counts as 5 s).
- **Request/response** (` + "`reqresp`" + `), for each concurrency c of ` + "`-rr-conc`" + `
  (default 1, 32, 128): c connections are opened and each makes one
  exchange before the window (not counted), so the proxy has its backend
  connection; then each, in a closed loop for one window, writes a 64-byte
  request and reads the 64-byte answer (the request echoed), as Redis or
  database clients on kept connections do. req/s = answers received within
  the window ÷ window; latency is from writing a request to having read
  its whole answer, p50/p99 over all requests of one measurement; the
  proxy's CPU time from the start of the window until the last answer,
  divided by the answers, is its CPU per request. The clients are made
  cheap, since they share the cores with the proxy and the backends: a
  goroutine per connection doing Write then io.ReadFull into a buffer of
  its own, no allocation per request. The connections are closed with a
  reset at the end. A failed dial or exchange is an error, and ends that
  connection for the window.
- **Idle connections**, before the rounds: each proxy target (not
  ` + "`proxy-random`" + `, whose data path is ` + "`proxy-leastconn`" + `'s; every child target) in a process of its
  own, started for this alone: 100 connections echo 64 KiB and close, then
  after 2 s its VmRSS is read; connections are opened 16 at a time, each
  echoing 64 KiB before it is kept open, and VmRSS (and, for Caddy, the
  goroutine count from its admin pprof endpoint) is read 2 s after each
  count of ` + "`-idle`" + ` (default 2000, 8000) is held. The figure is the growth
  over the start divided by the connections held: what an idle connection
  costs, its two sockets' user-space state included (kernel socket buffers
  are not in RSS).
- **Rounds**: for round r, for each concurrency, for each target (in an
  order shuffled anew for each round and concurrency, the same in every
  run): churn, pause, bulk, pause; then for each reqresp concurrency, for
  each target (in orders of their own): reqresp, pause. ` + "`-loads`" + ` leaves
  out the loads not named, and the report their tables. Every figure is a median
  over rounds, and every ratio the median of per-round ratios, because these
  machines are noisy (2 cores, other work running). The clients, the proxy
  and the backends share the 2 cores: compare ratios, not absolute numbers.
- **TIME_WAIT**: 128 churning clients would use up the ephemeral ports of
  127.0.0.1 with sockets in TIME_WAIT. The clients close with SO_LINGER 0
  (a RST) once the echo is read, and the backends close with SO_LINGER 0 once
  the proxy (or client) has closed its side, so neither the client leg nor the
  proxy-to-backend leg leaves TIME_WAIT sockets (the count of TIME_WAIT sockets to or from the
  benchmark's ports, taken after each round, is reported above). Spreading clients over 127.0.0.x source
  addresses was therefore not needed.

## Caveats

- caddy-l4 v0.1.2's ` + "`least_conn`" + ` counts a per-peer counter that is never
  decremented (` + "`dialPeers`" + ` calls ` + "`countConn(1)`" + ` with no matching -1): it picks the
  upstream with the fewest connections *ever opened*, i.e. it behaves like
  round robin, not like least live connections. It is still the natural
  reference (the same proxy handler, the same per-connection work); costlb
  keeps exact live counts instead (see the README).
- costlb sends a new connection to west only when east has 5 more live
  connections than west (the link cost): at concurrency 1 every connection
  goes to east, with more clients east keeps about 5 more than west. caddy-l4's
  policies spread evenly; HAProxy's backup server gets nothing while east is
  up. Both backends are the same process, so where connections go does not
  change the speed here.
- Quick mode (` + "`-quick`" + `) uses short windows and few rounds; it is a smoke
  run, not a measurement.

## Running it

` + "```sh" + `
go build -o /tmp/caddy ./integration/cmd/caddy   # or ./xcaddy.sh
go run -C integration/cmd/loadbench . -caddy /tmp/caddy          # full run, a few minutes
go run -C integration/cmd/loadbench . -caddy /tmp/caddy -quick   # under 60 s
` + "```" + `

loadbench is a Go module of its own in integration/cmd/loadbench, so that
the root module holds only what a Caddy build needs; run it from the
repository root as above. A relative path on its command line is taken from
the repository root.

Without ` + "`-caddy`" + ` loadbench builds Caddy from this tree first (about 90 s cold on
2 cores), which the 60 s of ` + "`-quick`" + ` do not include. It writes this file and
benchmarks.svg (` + "`-out-md`, `-out-svg`" + `; ` + "`-out-md -`" + ` to skip); ` + "`-json FILE`" + ` also saves the raw
samples, and ` + "`-render FILE`" + ` rewrites the Markdown and SVG from them without
measuring again. Other flags:
` + "`-rounds`, `-window`, `-pause`, `-loads churn,bulk,reqresp`, `-conc 1,16,128` (churn and bulk), `-rr-conc 1,32,128` (reqresp), `-idle 2000,8000` (0 skips it), `-caddy-before BIN`, `-targets direct,l4-echo,proxy-leastconn,proxy-random,costlb,haproxy,haproxy-splice`" + ` (and ` + "`costlb-before`, `go-proxy`" + `).
Every process it starts (echo child, Caddy, HAProxy, child targets) is stopped on exit,
error and Ctrl-C, and killed by the kernel (Pdeathsig) if loadbench dies.

## Profile

Caddy's admin endpoint serves /debug/pprof/. To see where a target spends its
CPU, keep it under load, e.g. ` + "`-targets costlb -conc 16 -rounds 12`" + `, and meanwhile
run ` + "`go tool pprof -top 'http://ADMIN/debug/pprof/profile?seconds=12'`" + ` with the
admin address loadbench prints.

Last done on 2026-11-21 (Caddy v2.11.9, caddy-l4 v0.1.2, 2 busy cores),
15 s of profile of Caddy under costlb churn alone (16 clients, 64-byte
echoes, 7.8 s of CPU samples): 63% in costlb's handler and its second
goroutine, of which 47 points are system calls (connect 13%, write 11%,
close 9%, epoll_ctl 4%, read 4%, socket 3%, the rest under 1% each), 4.5
growing caddy-l4's connection goroutine's stack at the pick (since grown
at the handler's start instead, where the copy costs half), 4 malloc,
under 1 costlb's pick and counting, the rest Go's net wrappers and
parking; 18% in caddy-l4 before and around the handler (its accept loop
10%, wrapping the connection and the route 8%); 8% Go's scheduler, 3% the
garbage collector, the rest other runtime work. Measured side by side
(16 clients, medians of 6 rounds), a minimal Go proxy (the ` + "`go-proxy`" + `
target) cost 94 µs of CPU per connection, costlb 111 µs, caddy-l4's echo
88 µs (its error log line included) and HAProxy 61 µs:
Go's net stack and runtime alone are about 1.55× HAProxy's CPU per
connection on this machine, caddy-l4 and costlb together add about 17 µs.
In bulk transfers the copy loop splices, and the proxy's CPU is almost
all in the splice system calls.
`
