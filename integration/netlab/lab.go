package netlab

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// Host is the name of the test process's own place on the lab network, for
// SetDelay, Cut, Addr and the like: it is on the root network namespace.
const Host = "host"

// nsPrefix begins the name of every namespace a lab makes:
// costlb-lab-<pid>-<lab>-<site>.
const nsPrefix = "costlb-lab-"

// labSeq numbers the labs of this process.
var labSeq atomic.Int64

// Lab is a network of sites, each a network namespace, joined by a wire in
// the test process. Its methods are safe for concurrent use.
type Lab struct {
	tb    testing.TB
	id    string // <pid>-<seq>, unique on the machine while this process lives
	sites []string
	addrs map[string]netip.Addr
	ns    map[string]string // site → namespace name
	w     *wire
	sys   sysLab // what the system gave: devices, namespaces made

	cmdMu sync.Mutex
	cmds  []*exec.Cmd // made by Command, killed on close if started
}

// New makes a lab with the named sites (lower-case letters, digits and
// '-', at most 16 characters, not Host) and registers a Cleanup that
// removes all of it. Links start with no delay, no jitter and not cut. It
// skips the test, with the reason, where namespaces cannot be made (fails
// it under CI=true), and fails it if the lab cannot be built.
func New(tb testing.TB, sites ...string) *Lab {
	tb.Helper()
	if err := supported(); err != nil {
		if os.Getenv("CI") == "true" {
			tb.Fatalf("netlab: %v (CI=true: the lab must be available in CI)", err)
		}
		tb.Skipf("netlab: %v", err)
	}
	seen := map[string]bool{Host: true}
	for _, s := range sites {
		if !validSite(s) || seen[s] {
			tb.Fatalf("netlab.New: site %q: want a unique name of 1-16 lower-case letters, digits and '-', not %q", s, Host)
		}
		seen[s] = true
	}
	l := &Lab{
		tb:    tb,
		id:    fmt.Sprintf("%d-%d", os.Getpid(), labSeq.Add(1)),
		sites: append([]string(nil), sites...),
		addrs: map[string]netip.Addr{},
		ns:    map[string]string{},
		w:     newWire(),
	}
	tb.Cleanup(l.close) // registered first: it undoes a half-built lab too
	if err := l.build(); err != nil {
		tb.Fatalf("netlab.New: %v", err)
	}
	l.w.start()
	return l
}

func validSite(s string) bool {
	if s == "" || len(s) > 16 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// Sites returns the lab's site names, in New's order (Host not included).
func (l *Lab) Sites() []string { return append([]string(nil), l.sites...) }

// Addr returns the site's address in 198.18.0.0/15 as a string; Host's is
// the test process's own.
func (l *Lab) Addr(site string) string { return l.addr(site).String() }

// HostPort returns "<site address>:<port>".
func (l *Lab) HostPort(site string, port int) string {
	return net.JoinHostPort(l.Addr(site), strconv.Itoa(port))
}

func (l *Lab) addr(site string) netip.Addr {
	a, ok := l.addrs[site]
	if !ok {
		l.tb.Fatalf("netlab: no site %q in this lab (sites %v and %q)", site, l.sites, Host)
	}
	return a
}

// Namespace returns the name of the site's network namespace ("" for
// Host, the root namespace).
func (l *Lab) Namespace(site string) string {
	l.addr(site)
	return l.ns[site]
}

// SetDelay sets the one-way delay between sites a and b, both ways: a
// round trip between them takes 2×oneWay more than it would on loopback.
// It applies to packets sent from then on.
func (l *Lab) SetDelay(a, b string, oneWay time.Duration) {
	l.pair(a, b)
	l.w.set(a, b, func(k *link) { k.delay = oneWay })
}

// SetJitter makes each packet between a and b take the one-way delay times
// a factor drawn uniformly from [1-frac, 1+frac]; packets still arrive in
// the order they were sent. 0 turns jitter off.
func (l *Lab) SetJitter(a, b string, frac float64) {
	l.pair(a, b)
	if frac < 0 || frac > 1 {
		l.tb.Fatalf("netlab.SetJitter(%q, %q, %v): want a fraction from 0 to 1", a, b, frac)
	}
	l.w.set(a, b, func(k *link) { k.jitter = frac })
}

// Cut drops every packet between a and b, both ways, including those on
// the wire at that moment, until Heal: a silent partition (no reset, no
// ICMP, nothing).
func (l *Lab) Cut(a, b string) {
	l.pair(a, b)
	l.w.set(a, b, func(k *link) { k.cut = true })
}

// Heal ends a Cut.
func (l *Lab) Heal(a, b string) {
	l.pair(a, b)
	l.w.set(a, b, func(k *link) { k.cut = false })
}

// LinkStats counts one direction's packets.
type LinkStats struct {
	Forwarded   uint64 // delivered to the destination device
	DroppedCut  uint64 // dropped while the pair was cut
	DroppedFull uint64 // dropped because the queue was full
}

// Stats returns the packet counts from a to b.
func (l *Lab) Stats(from, to string) LinkStats {
	l.pair(from, to)
	k := l.w.byName[from].out[to]
	return LinkStats{k.forwarded.Load(), k.droppedCut.Load(), k.droppedFull.Load()}
}

func (l *Lab) pair(a, b string) {
	l.addr(a)
	l.addr(b)
	if a == b {
		l.tb.Fatalf("netlab: %q to itself is not a link", a)
	}
}

// Command returns a command that runs name with args inside the site's
// namespace ("ip netns exec"; for Host, directly). The kernel kills it if
// the test process dies; the lab's Cleanup kills whatever still runs in
// the namespace.
func (l *Lab) Command(site, name string, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if ns := l.Namespace(site); ns != "" {
		cmd = exec.Command("ip", append([]string{"netns", "exec", ns, name}, args...)...)
	} else {
		cmd = exec.Command(name, args...)
	}
	cmd.SysProcAttr = deathSig()
	l.cmdMu.Lock()
	l.cmds = append(l.cmds, cmd)
	l.cmdMu.Unlock()
	return cmd
}

// killCommands kills every process Command made that was started. The
// namespaces' own list of processes ("ip netns pids") misses one that
// "ip netns exec" has started but not yet moved into its namespace, which
// would then outlive the lab (CI saw it).
func (l *Lab) killCommands() {
	l.cmdMu.Lock()
	cmds := l.cmds
	l.cmds = nil
	l.cmdMu.Unlock()
	for _, cmd := range cmds {
		if cmd.Process != nil {
			_ = cmd.Process.Kill()
		}
	}
}

// StartCaddy starts a Caddy (harness.StartCaddy) inside the site, with its
// admin endpoint on the site's address so that the test reaches it over the
// lab. opts come after the lab's own.
func (l *Lab) StartCaddy(site, config, adapter string, opts ...harness.CaddyOption) *harness.Caddy {
	l.tb.Helper()
	o := []harness.CaddyOption{harness.WithAdminHost(l.Addr(site))}
	if ns := l.Namespace(site); ns != "" {
		o = append(o, harness.WithCommandPrefix("ip", "netns", "exec", ns))
	}
	return harness.StartCaddy(l.tb, config, adapter, append(o, opts...)...)
}

// StartBackend starts a harness test backend listening on a free port of
// the site's address, inside the site's namespace.
func (l *Lab) StartBackend(site, name string, opts ...harness.BackendOption) *harness.Backend {
	l.tb.Helper()
	listen := func(network, address string) (net.Listener, error) { return l.Listen(site, network, address) }
	return harness.StartBackend(l.tb, name, append(opts, harness.WithListen(l.Addr(site), listen))...)
}

// Listen listens on address inside the site's namespace; the listener and
// the connections it accepts live there.
func (l *Lab) Listen(site, network, address string) (net.Listener, error) {
	var ln net.Listener
	err := l.inSite(site, func() (err error) {
		ln, err = net.Listen(network, address)
		return err
	})
	return ln, err
}

// Dial connects from inside the site's namespace, waiting at most timeout.
func (l *Lab) Dial(site, network, address string, timeout time.Duration) (net.Conn, error) {
	var c net.Conn
	err := l.inSite(site, func() (err error) {
		c, err = net.DialTimeout(network, address, timeout)
		return err
	})
	return c, err
}

// inSite runs fn with the calling thread in the site's namespace, so that
// the sockets fn opens belong to it (a socket keeps its namespace).
func (l *Lab) inSite(site string, fn func() error) error {
	ns := l.Namespace(site)
	if ns == "" {
		return fn()
	}
	return inNetns(ns, fn)
}
