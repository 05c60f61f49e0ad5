package main

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"time"
)

// sleepCtx sleeps for d, or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// ports returns the ports of every address the run listens on: the
// backends and the proxies' listeners.
func (r *runner) ports() map[uint64]bool {
	ps := make(map[uint64]bool)
	for _, a := range append(r.echo.addrs[:], slices.Collect(maps.Values(r.addrs))...) {
		if _, p, err := net.SplitHostPort(a); err == nil {
			if n, err := strconv.ParseUint(p, 10, 16); err == nil {
				ps[n] = true
			}
		}
	}
	return ps
}

// countTimeWait counts TCP sockets in TIME_WAIT from or to one of ports
// (Linux; 0 elsewhere). Other work on the machine may hold many more; they
// are not counted.
func countTimeWait(ports map[uint64]bool) int {
	n := 0
	port := func(hostPort string) uint64 {
		_, p, _ := strings.Cut(hostPort, ":")
		v, _ := strconv.ParseUint(p, 16, 16)
		return v
	}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		data, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for i, line := range strings.Split(string(data), "\n") {
			if fs := strings.Fields(line); i > 0 && len(fs) > 3 && fs[3] == "06" && (ports[port(fs[1])] || ports[port(fs[2])]) {
				n++
			}
		}
	}
	return n
}

// clockTick is the unit of utime and stime in /proc/<pid>/stat (USER_HZ,
// 100 on every Linux platform Go supports).
const clockTick = 10 * time.Millisecond

// procCPU returns the user+system CPU time process pid has used, all its
// threads included (0 if unknown).
func procCPU(pid int) time.Duration {
	if pid <= 0 {
		return 0
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// the fields after the command name, which is in parentheses
	i := bytes.LastIndexByte(data, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(data[i+1:]))
	if len(f) < 13 {
		return 0
	}
	// f[0] is field 3 (state): utime and stime are fields 14 and 15
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0
	}
	return time.Duration(ut+st) * clockTick
}

// findHAProxy returns the haproxy binary, or "" if it is not installed.
func findHAProxy() string {
	p, err := exec.LookPath("haproxy")
	if err != nil {
		return ""
	}
	return p
}

func fmtDur(d time.Duration) string {
	switch {
	case d >= 10*time.Millisecond:
		return fmt.Sprintf("%.1fms", float64(d)/1e6)
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%dµs", d.Microseconds())
	}
}
