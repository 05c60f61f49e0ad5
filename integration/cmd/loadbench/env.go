package main

import (
	"debug/buildinfo"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// Env describes the machine and software a run measured.
type Env struct {
	Date        string
	CPUs        int
	CPUModel    string
	GOMAXPROCS  int
	GoVersion   string // of loadbench (the clients)
	Kernel      string
	CaddyGo     string // Go version the Caddy binary was built with
	Caddy       string // caddy module version in the binary
	CaddyL4     string
	HAProxy     string // first line of haproxy -v
	CaddyBefore string // the costlb version in the -caddy-before binary
	LoadAvg     string // /proc/loadavg at the start
	LoadAvgEnd  string // and at the end
	TwReuse     string
	PortRange   string
	BackendMode string
}

func collectEnv(opts Options) Env {
	e := Env{
		Date:       time.Now().UTC().Format("2006-01-02 15:04 UTC"),
		CPUs:       runtime.NumCPU(),
		GOMAXPROCS: runtime.GOMAXPROCS(0),
		GoVersion:  runtime.Version(),
		Kernel:     readTrim("/proc/sys/kernel/osrelease"),
		LoadAvg:    readTrim("/proc/loadavg"),
		TwReuse:    readTrim("/proc/sys/net/ipv4/tcp_tw_reuse"),
		PortRange:  strings.Join(strings.Fields(readTrim("/proc/sys/net/ipv4/ip_local_port_range")), "–"),
	}
	if data, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(data), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				e.CPUModel = strings.TrimSpace(v)
				break
			}
		}
	}
	e.BackendMode = "child process"
	if opts.Inproc {
		e.BackendMode = "in the loadbench process"
	}
	if opts.CaddyBin != "" {
		if bi, err := buildinfo.ReadFile(opts.CaddyBin); err == nil {
			e.CaddyGo = bi.GoVersion
			for _, d := range bi.Deps {
				switch d.Path {
				case "github.com/caddyserver/caddy/v2":
					e.Caddy = d.Version
				case "github.com/mholt/caddy-l4":
					e.CaddyL4 = d.Version
				}
			}
		}
	}
	if opts.BeforeBin != "" {
		e.CaddyBefore = opts.BeforeBin
		if bi, err := buildinfo.ReadFile(opts.BeforeBin); err == nil {
			for _, d := range bi.Deps {
				if d.Path == "github.com/costlb/costlb" {
					e.CaddyBefore = fmt.Sprintf("%s (costlb %s %s)", opts.BeforeBin, d.Version, d.Sum)
				}
			}
		}
	}
	if opts.HAProxyBin != "" {
		if out, err := exec.Command(opts.HAProxyBin, "-v").Output(); err == nil {
			e.HAProxy, _, _ = strings.Cut(strings.TrimSpace(string(out)), "\n")
		}
	}
	return e
}

func readTrim(path string) string {
	data, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(data))
}
