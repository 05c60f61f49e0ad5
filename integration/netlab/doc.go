// Package netlab builds a multi-site network on one Linux machine for
// integration tests: one network namespace per site, each with a TUN device
// and an address in 198.18.0.0/15, and a userspace wire in the test process
// that moves IP packets between the TUN devices after a per-pair delay (with
// optional jitter) and drops them while a pair is cut. Processes run inside
// a site (Lab.Command, Lab.StartCaddy) and sockets are opened inside one
// (Lab.Listen, Lab.Dial), so connect times and round trips are real kernel
// TCP over delayed links; netem is not needed.
//
// The test process itself is on the network too, as the site Host: a TUN
// device in the root namespace with its own 198.18 address and one route
// per site address, so a test reaches a site's listeners and its Caddy's
// admin endpoint directly.
//
// Traffic goes nowhere but these namespaces: each site routes only
// 198.18.0.0/15, to its TUN device, and the wire delivers a packet only to
// a lab address. New registers a Cleanup that kills what runs in the
// namespaces, closes the TUN devices (the kernel then removes them with
// their addresses and routes) and deletes the namespaces; namespaces carry
// the creating process's id in their name, and New deletes those left by
// a process that is gone.
//
// It needs Linux, root (CAP_NET_ADMIN and CAP_SYS_ADMIN), /dev/net/tun and
// iproute2's ip. Where any is missing New skips the test with the reason,
// and fails it under CI=true. On other systems New does the same:
// "unsupported".
package netlab
