package netlab

import (
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// connectSlack is what a connect may take beyond the configured round trip
// on a shared 2-core machine: timer and scheduling latency of the wire's
// two hops and of the two kernels' TCP handshake.
const connectSlack = 25 * time.Millisecond

// echoListener listens on a free port of site and echoes every connection
// until the test ends.
func echoListener(t *testing.T, lab *Lab, site string) string {
	t.Helper()
	ln, err := lab.Listen(site, "tcp", net.JoinHostPort(lab.Addr(site), "0"))
	if err != nil {
		t.Fatalf("listen in %s: %v", site, err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// connectTimes dials addr from site n times and returns each connect's
// duration, sorted.
func connectTimes(t *testing.T, lab *Lab, site, addr string, n int) []time.Duration {
	t.Helper()
	var ds []time.Duration
	for range n {
		start := time.Now()
		c, err := lab.Dial(site, "tcp", addr, 5*time.Second)
		d := time.Since(start)
		if err != nil {
			t.Fatalf("dial %s from %s: %v", addr, site, err)
		}
		c.Close()
		ds = append(ds, d)
	}
	slices.Sort(ds)
	return ds
}

// TestConnectTakesTheRoundTrip: a TCP connect between two sites takes at
// least the configured round trip (a SYN one way, the SYN-ACK back) and
// not much more; from the test process (Host) too.
func TestConnectTakesTheRoundTrip(t *testing.T) {
	lab := New(t, "a", "b")
	addr := echoListener(t, lab, "b")

	base := connectTimes(t, lab, "a", addr, 5)
	t.Logf("no delay: connect a→b min %v median %v max %v", base[0], base[len(base)/2], base[len(base)-1])

	for _, oneWay := range []time.Duration{5 * time.Millisecond, 20 * time.Millisecond} {
		lab.SetDelay("a", "b", oneWay)
		ds := connectTimes(t, lab, "a", addr, 10)
		rtt := 2 * oneWay
		t.Logf("one way %v: connect a→b min %v median %v max %v", oneWay, ds[0], ds[len(ds)/2], ds[len(ds)-1])
		if ds[0] < rtt {
			t.Errorf("one way %v: a connect took %v, less than the round trip %v", oneWay, ds[0], rtt)
		}
		if med := ds[len(ds)/2]; med >= rtt+connectSlack {
			t.Errorf("one way %v: median connect %v, want < %v", oneWay, med, rtt+connectSlack)
		}
	}

	lab.SetDelay(Host, "b", 10*time.Millisecond)
	ds := connectTimes(t, lab, Host, addr, 5)
	t.Logf("one way 10ms: connect host→b min %v median %v", ds[0], ds[len(ds)/2])
	if ds[0] < 20*time.Millisecond || ds[len(ds)/2] >= 20*time.Millisecond+connectSlack {
		t.Errorf("host→b with 10ms one way: connects %v, want each ≥ 20ms and the median < %v", ds, 20*time.Millisecond+connectSlack)
	}
}

// TestCutIsSilent: across a cut pair a connect times out (no reset, no
// refusal), an open connection stalls without being reset, and after Heal
// both work again.
func TestCutIsSilent(t *testing.T) {
	lab := New(t, "a", "b")
	addr := echoListener(t, lab, "b")
	lab.SetDelay("a", "b", 2*time.Millisecond)

	held, err := lab.Dial("a", "tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial before the cut: %v", err)
	}
	defer held.Close()

	lab.Cut("a", "b")
	start := time.Now()
	c, err := lab.Dial("a", "tcp", addr, 500*time.Millisecond)
	if err == nil {
		c.Close()
		t.Fatal("a connect across the cut succeeded")
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("a connect across the cut failed with %v after %v; want a timeout", err, time.Since(start))
	}
	if s := lab.Stats("a", "b"); s.DroppedCut == 0 {
		t.Errorf("stats a→b %+v: no packet dropped by the cut", s)
	}

	// the held connection: a write is not answered while cut, and no reset
	// comes either (the read deadline, not an error, ends the read)
	if _, err := held.Write([]byte("ping")); err != nil {
		t.Fatalf("write on the held connection during the cut: %v", err)
	}
	held.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	buf := make([]byte, 4)
	if n, err := held.Read(buf); !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read on the held connection during the cut: %d bytes, %v; want a timeout", n, err)
	}

	lab.Heal("a", "b")
	// TCP retransmits the "ping" on its own backoff (about 200, 400, 800 ms)
	held.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(held, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("held connection after the heal: %q, %v; want the echo of ping", buf, err)
	}
	c, err = lab.Dial("a", "tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("connect after the heal: %v", err)
	}
	c.Close()
}

// TestJitterSpreadsSamples: with jitter, connect times spread around the
// round trip within its bounds.
func TestJitterSpreadsSamples(t *testing.T) {
	lab := New(t, "a", "b")
	addr := echoListener(t, lab, "b")
	const oneWay = 20 * time.Millisecond
	const frac = 0.5
	lab.SetDelay("a", "b", oneWay)
	lab.SetJitter("a", "b", frac)
	ds := connectTimes(t, lab, "a", addr, 20)
	t.Logf("one way %v ±%.0f%%: connect min %v median %v max %v", oneWay, frac*100, ds[0], ds[len(ds)/2], ds[len(ds)-1])
	lo := time.Duration(float64(2*oneWay) * (1 - frac))
	if ds[0] < lo {
		t.Errorf("a connect took %v, below the jittered minimum %v", ds[0], lo)
	}
	// two hops, each uniform in [10, 30] ms: 20 samples within 10 ms of
	// each other would be a chance below one in a million
	if spread := ds[len(ds)-1] - ds[0]; spread < 10*time.Millisecond {
		t.Errorf("connect times %v spread only %v; want ≥ 10ms", ds, spread)
	}
}

// TestCleanupLeavesNothing: after a lab's test ends, its namespaces, the
// processes in them, its addresses and its routes are gone.
func TestCleanupLeavesNothing(t *testing.T) {
	var nss, addrs []string
	exited := make(chan struct{})
	t.Run("lab", func(t *testing.T) {
		lab := New(t, "a", "b")
		for _, s := range []string{"a", "b"} {
			nss = append(nss, lab.Namespace(s))
			addrs = append(addrs, lab.Addr(s))
		}
		addrs = append(addrs, lab.Addr(Host))
		sleeper := lab.Command("a", "sleep", "600")
		if err := sleeper.Start(); err != nil {
			t.Fatal(err)
		}
		go func() {
			_ = sleeper.Wait()
			close(exited)
		}()
		c, err := lab.Dial(Host, "tcp", echoListener(t, lab, "b"), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		c.Close()
		for _, ns := range nss {
			if _, err := os.Stat(netnsDir + "/" + ns); err != nil {
				t.Fatalf("namespace %s: %v", ns, err)
			}
		}
	})
	for _, ns := range nss {
		if _, err := os.Stat(netnsDir + "/" + ns); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("namespace %s still there after cleanup (%v)", ns, err)
		}
	}
	harness.WaitFor(t, 5*time.Second, func() bool {
		select {
		case <-exited:
			return true
		default:
			return false
		}
	}, "the process started in site a still runs after cleanup")
	out, err := exec.Command("ip", "-4", "-o", "addr", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	routes, err := exec.Command("ip", "-4", "route", "show", "table", "all").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		for _, text := range []string{string(out), string(routes)} {
			if strings.Contains(text, a+"/") || strings.Contains(text, a+" ") {
				t.Errorf("address %s still in the root namespace after cleanup:\n%s", a, text)
			}
		}
	}
}

// TestStaleNamespacesAreRemoved: a lab namespace whose process is gone is
// deleted by the next test process's first lab.
func TestStaleNamespacesAreRemoved(t *testing.T) {
	New(t) // skips where namespaces cannot be made
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	stale := nsPrefix + strconv.Itoa(dead.Process.Pid) + "-1-x"
	if err := ip("netns", "add", stale); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ip("netns", "del", stale) })
	reapStale()
	if _, err := os.Stat(netnsDir + "/" + stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale namespace %s still there (%v)", stale, err)
	}
}

// TestClaimTakenBlock: a lab that picks a block another lab holds sees its
// routes taken, gives up that block and leaves nothing on its device.
func TestClaimTakenBlock(t *testing.T) {
	lab := New(t, "a")
	other := &Lab{tb: t, sites: []string{"a"}, w: newWire()}
	t.Cleanup(other.close)
	_, ifName, err := other.tun()
	if err != nil {
		t.Fatal(err)
	}
	if err := ip("link", "set", "dev", ifName, "addrgenmode", "none", "up"); err != nil {
		t.Fatal(err)
	}
	base := lab.addr("a").As4()
	base[3] = 0
	if ok, err := other.claim(ifName, base); ok || err != nil {
		t.Fatalf("claiming the block of a running lab: %t, %v; want false, nil", ok, err)
	}
	for _, args := range [][]string{{"-4", "-o", "addr", "show", "dev", ifName}, {"-4", "route", "show", "dev", ifName}} {
		out, err := exec.Command("ip", args...).Output()
		if err != nil || strings.TrimSpace(string(out)) != "" {
			t.Errorf("ip %v after the failed claim: %q, %v; want nothing", args, out, err)
		}
	}
}

// asNobodyEnv marks the run of this test binary that TestWithoutRoot
// starts as user nobody.
const asNobodyEnv = "COSTLB_NETLAB_AS_NOBODY"

// TestWithoutRoot: where namespaces cannot be made (here: not root), New
// skips the test with the reason, and fails it under CI=true. It runs
// this test binary again as user nobody, once without CI and once with
// CI=true.
func TestWithoutRoot(t *testing.T) {
	if os.Getenv(asNobodyEnv) == "1" {
		New(t, "a")
		t.Fatal("New returned without root")
	}
	if os.Geteuid() != 0 {
		t.Skip("running a helper as another user needs root")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// a copy nobody can reach: the test binary's own directory is private
	dir, err := os.MkdirTemp("", "netlab-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	bin := dir + "/netlab.test"
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, ci := range []bool{false, true} {
		cmd := exec.Command(bin, "-test.run=^TestWithoutRoot$", "-test.v")
		cmd.Dir = dir
		env := []string{asNobodyEnv + "=1", "PATH=" + os.Getenv("PATH")}
		if ci {
			env = append(env, "CI=true")
		}
		cmd.Env = env
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
		out, err := cmd.CombinedOutput()
		text := string(out)
		switch {
		case !ci && (err != nil || !strings.Contains(text, "--- SKIP") || !strings.Contains(text, "need root")):
			t.Errorf("as nobody without CI: %v; want a skip that says root is needed:\n%s", err, text)
		case ci && (err == nil || !strings.Contains(text, "--- FAIL") || !strings.Contains(text, "need root") || !strings.Contains(text, "CI=true")):
			t.Errorf("as nobody with CI=true: %v; want a failure that says root is needed:\n%s", err, text)
		}
	}
}
