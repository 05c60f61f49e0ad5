package netlab

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// netnsDir is where "ip netns" keeps its named namespaces.
const netnsDir = "/run/netns"

// blocks is how many /24 blocks 198.18.0.0/15 holds; a lab takes one.
const blocks = 512

// sysLab is what a lab made on the system, for close to undo.
type sysLab struct {
	mu   sync.Mutex
	devs []*os.File // TUN devices: closing one removes it
	nss  []string   // namespaces made
}

var (
	supportOnce sync.Once
	supportErr  error
)

// supported reports why labs cannot be made here, or nil. It tries once per
// process: root, ip, /dev/net/tun, making and deleting a namespace; it
// also deletes namespaces left by earlier test processes that are gone.
func supported() error {
	supportOnce.Do(func() {
		if os.Geteuid() != 0 {
			supportErr = errors.New("network namespaces and TUN devices need root")
			return
		}
		if _, err := exec.LookPath("ip"); err != nil {
			supportErr = fmt.Errorf("iproute2's ip is not installed: %w", err)
			return
		}
		f, _, err := openTUN()
		if err != nil {
			supportErr = fmt.Errorf("no TUN devices: %w", err)
			return
		}
		f.Close()
		reapStale()
		probe := fmt.Sprintf("%s%d-probe", nsPrefix, os.Getpid())
		if err := ip("netns", "add", probe); err != nil {
			supportErr = fmt.Errorf("cannot make a network namespace: %w", err)
			return
		}
		if err := ip("netns", "del", probe); err != nil {
			supportErr = fmt.Errorf("cannot delete a network namespace: %w", err)
		}
	})
	return supportErr
}

// reapStale deletes the lab namespaces of processes that are gone, and any
// with this process's id (left by an earlier process with the same id:
// this one has made none yet), killing what still runs in them.
func reapStale() {
	entries, err := os.ReadDir(netnsDir)
	if err != nil {
		return
	}
	self := os.Getpid()
	for _, e := range entries {
		rest, ok := strings.CutPrefix(e.Name(), nsPrefix)
		if !ok {
			continue
		}
		pidStr, _, _ := strings.Cut(rest, "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil {
			continue
		}
		if pid != self {
			if _, err := os.Stat("/proc/" + pidStr); err == nil {
				continue // its process runs: its lab is in use
			}
		}
		killIn(e.Name())
		_ = ip("netns", "del", e.Name())
	}
}

// killIn kills every process in namespace ns.
func killIn(ns string) {
	out, err := exec.Command("ip", "netns", "pids", ns).Output()
	if err != nil {
		return
	}
	for _, f := range strings.Fields(string(out)) {
		if pid, err := strconv.Atoi(f); err == nil && pid != os.Getpid() {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	}
}

// ip runs "ip args..." and returns its error with its output.
func ip(args ...string) error {
	var out bytes.Buffer
	cmd := exec.Command("ip", args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(out.String()))
	}
	return nil
}

// build makes the lab: the test process's device in the root namespace,
// then a namespace, device, address and route per site.
func (l *Lab) build() error {
	hostDev, hostIf, err := l.tun()
	if err != nil {
		return err
	}
	if err := ip("link", "set", "dev", hostIf, "addrgenmode", "none", "up"); err != nil {
		return err
	}
	// Take a /24 of 198.18.0.0/15 that no other lab on the machine uses:
	// the routes for its addresses are the claim, and adding one that
	// exists fails.
	var base [4]byte
	claimed := false
	for try := 0; try < 32 && !claimed; try++ {
		k := rand.IntN(blocks)
		base = [4]byte{198, 18 + byte(k>>8), byte(k), 0}
		claimed, err = l.claim(hostIf, base)
		if err != nil {
			return err
		}
	}
	if !claimed {
		return errors.New("no free /24 in 198.18.0.0/15 after 32 tries")
	}
	l.w.add(Host, l.addrs[Host], hostDev)

	for i, site := range l.sites {
		ns := nsPrefix + l.id + "-" + site
		if err := ip("netns", "add", ns); err != nil {
			return err
		}
		l.sys.mu.Lock()
		l.sys.nss = append(l.sys.nss, ns)
		l.sys.mu.Unlock()
		l.ns[site] = ns
		dev, ifName, err := l.tun()
		if err != nil {
			return err
		}
		addr := l.addrs[site]
		for _, args := range [][]string{
			{"link", "set", "dev", ifName, "netns", ns},
			{"-n", ns, "link", "set", "dev", "lo", "up"},
			{"-n", ns, "link", "set", "dev", ifName, "addrgenmode", "none"},
			{"-n", ns, "addr", "add", addr.String() + "/32", "dev", ifName},
			{"-n", ns, "link", "set", "dev", ifName, "up"},
			{"-n", ns, "route", "add", "198.18.0.0/15", "dev", ifName, "src", addr.String()},
		} {
			if err := ip(args...); err != nil {
				return fmt.Errorf("site %s (#%d): %w", site, i, err)
			}
		}
		l.w.add(site, addr, dev)
	}
	return nil
}

// claim gives the test process address base+1 and routes base+10+i (site
// i) to its device hostIf. It reports false, having removed what it added,
// if another lab holds one of those routes.
func (l *Lab) claim(hostIf string, base [4]byte) (bool, error) {
	at := func(n int) netip.Addr { b := base; b[3] = byte(n); return netip.AddrFrom4(b) }
	host := at(1)
	if err := ip("addr", "add", host.String()+"/32", "dev", hostIf); err != nil {
		return false, err
	}
	addrs := map[string]netip.Addr{Host: host}
	for i, site := range l.sites {
		a := at(10 + i)
		if err := ip("route", "add", a.String()+"/32", "dev", hostIf, "src", host.String()); err != nil {
			// undo this try: the address, and the routes added so far
			_ = ip("route", "flush", "dev", hostIf)
			_ = ip("addr", "flush", "dev", hostIf)
			if strings.Contains(err.Error(), "File exists") {
				return false, nil
			}
			return false, err
		}
		addrs[site] = a
	}
	l.addrs = addrs
	return true, nil
}

// tun makes a TUN device and records it for close.
func (l *Lab) tun() (*os.File, string, error) {
	f, name, err := openTUN()
	if err != nil {
		return nil, "", err
	}
	l.sys.mu.Lock()
	l.sys.devs = append(l.sys.devs, f)
	l.sys.mu.Unlock()
	return f, name, nil
}

// close removes everything the lab made: it kills what runs in its
// namespaces, closes its devices (the kernel removes them, with their
// addresses and routes), stops the wire and deletes the namespaces.
func (l *Lab) close() {
	l.sys.mu.Lock()
	devs, nss := l.sys.devs, l.sys.nss
	l.sys.devs, l.sys.nss = nil, nil
	l.sys.mu.Unlock()
	l.killCommands()
	for _, ns := range nss {
		killIn(ns)
	}
	for _, f := range devs {
		_ = f.Close()
	}
	l.w.stop()
	for _, ns := range nss {
		if err := ip("netns", "del", ns); err != nil {
			l.tb.Errorf("netlab: removing the lab: %v", err)
		}
	}
}

// inNetns runs fn on a thread that is in namespace ns for the time of fn.
// It runs on a goroutine of its own, locked to its thread: if the thread
// cannot be put back in its namespace, the goroutine ends locked and the
// runtime ends the thread with it, so no other goroutine ever runs there.
func inNetns(ns string, fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- err
			return
		}
		defer unix.Close(orig)
		target, err := unix.Open(netnsDir+"/"+ns, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("namespace %s: %w", ns, err)
			return
		}
		defer unix.Close(target)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("entering namespace %s: %w", ns, err)
			return
		}
		err = fn()
		if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

// deathSig makes the kernel kill a started process if the test process
// dies without running its Cleanups.
func deathSig() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
