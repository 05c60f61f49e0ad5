package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// stopGrace is how long a child gets after SIGINT before it is killed.
const stopGrace = 3 * time.Second

// proc is a child process started by the runner: Caddy, HAProxy, the echo
// backends or a child target. Every proc is stopped by runner.cleanup, which Run defers, so
// children die on a normal exit, on an error and on Ctrl-C; Pdeathsig (Linux)
// covers loadbench itself being killed.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	logFile *os.File
	stdin   io.WriteCloser
	done    chan struct{}
	err     error
	once    sync.Once
}

// startProc starts bin with args, its output going to logPath. With
// pipeStdout, stdout is returned as a pipe instead.
func (r *runner) startProc(name, bin string, args, extraEnv []string, logPath string, pipeStdout bool) (*proc, io.Reader, error) {
	lf, err := os.Create(logPath)
	if err != nil {
		return nil, nil, err
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = r.dir
	cmd.Env = append(os.Environ(), extraEnv...)
	cmd.Stderr = lf
	cmd.SysProcAttr = childProcAttr()
	cmd.WaitDelay = stopGrace
	var stdout io.Reader
	if pipeStdout {
		if stdout, err = cmd.StdoutPipe(); err != nil {
			_ = lf.Close()
			return nil, nil, err
		}
	} else {
		cmd.Stdout = lf
	}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		_ = lf.Close()
		return nil, nil, err
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, logFile: lf, stdin: stdin, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		_ = lf.Close()
		return nil, nil, fmt.Errorf("starting %s (%s): %w", name, bin, err)
	}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	r.mu.Lock()
	r.procs = append(r.procs, p)
	r.mu.Unlock()
	return p, stdout, nil
}

// exited reports whether the process has ended.
func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop ends the process: stdin closed and SIGINT, then SIGKILL after
// stopGrace. It is safe to call more than once.
func (p *proc) stop() {
	p.once.Do(func() {
		_ = p.stdin.Close()
		if !p.exited() {
			if err := p.cmd.Process.Signal(os.Interrupt); err != nil {
				_ = p.cmd.Process.Kill()
			}
		}
		select {
		case <-p.done:
		case <-time.After(stopGrace):
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		_ = p.logFile.Close()
	})
}

// logTail returns the last few KiB of the process's log.
func (p *proc) logTail() string {
	data, err := os.ReadFile(p.logPath)
	if err != nil {
		return err.Error()
	}
	const max = 4 << 10
	if len(data) > max {
		data = data[len(data)-max:]
	}
	return string(data)
}

// cleanup stops every child (newest first) and removes the temporary
// directory.
func (r *runner) cleanup() {
	r.mu.Lock()
	procs := r.procs
	r.procs = nil
	r.mu.Unlock()
	for i := len(procs) - 1; i >= 0; i-- {
		procs[i].stop()
	}
	if r.echo != nil && r.echo.stop != nil {
		r.echo.stop()
	}
	if r.dir != "" {
		_ = os.RemoveAll(r.dir)
	}
}

func (r *runner) tempPath(name string) string { return filepath.Join(r.dir, name) }

// freeAddr returns a 127.0.0.1 address whose port was free a moment ago.
func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	addr := ln.Addr().String()
	return addr, ln.Close()
}

// waitListening waits until every address accepts TCP connections, failing
// early if p exits.
func waitListening(p *proc, addrs []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for _, a := range addrs {
		for {
			if p.exited() {
				return fmt.Errorf("%s exited (%v); log:\n%s", p.name, p.err, p.logTail())
			}
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err == nil {
				_ = c.Close()
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("%s: %s not listening after %v; log:\n%s", p.name, a, timeout, p.logTail())
			}
			time.Sleep(25 * time.Millisecond)
		}
	}
	return nil
}

// caddyTargets are the targets served by the one Caddy process, each on its
// own layer4 listener.
var caddyTargets = map[string]bool{"l4-echo": true, "proxy-leastconn": true, "proxy-random": true, "costlb-goroutines": true, "costlb": true}

// caddyfile returns the Caddyfile of the benchmark Caddy: one layer4 listener
// per Caddy target, all with the same two backends.
func caddyfile(admin string, listen map[string]string, east, west string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "{\n\tadmin %s\n\tcostlb {\n\t\tsite east\n\t\tlink east west 5\n\t}\n\tlayer4 {\n", admin)
	for _, name := range targetOrder {
		addr, ok := listen[name]
		if !ok {
			continue
		}
		fmt.Fprintf(&b, "\t\t%s {\n\t\t\troute {\n", addr)
		switch name {
		case "proxy-leastconn", "proxy-random":
			policy := strings.TrimPrefix(name, "proxy-")
			if policy == "leastconn" {
				policy = "least_conn"
			}
			fmt.Fprintf(&b, "\t\t\t\tproxy {\n\t\t\t\t\tlb_policy %s\n\t\t\t\t\tupstream %s\n\t\t\t\t\tupstream %s\n\t\t\t\t}\n", policy, east, west)
		case "l4-echo":
			b.WriteString("\t\t\t\techo\n")
		case "costlb", "costlb-before":
			fmt.Fprintf(&b, "\t\t\t\tcostlb {\n\t\t\t\t\tbackend east %s\n\t\t\t\t\tbackend west %s\n\t\t\t\t}\n", east, west)
		case "costlb-goroutines":
			fmt.Fprintf(&b, "\t\t\t\tcostlb {\n\t\t\t\t\tbackend east %s\n\t\t\t\t\tbackend west %s\n\t\t\t\t\tdata_path goroutines\n\t\t\t\t}\n", east, west)
		}
		b.WriteString("\t\t\t}\n\t\t}\n")
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}

// startCaddy runs the benchmark's Caddy, with a listener per Caddy target
// of targets, and returns the listener addresses by target and the admin
// address.
func (r *runner) startCaddy(targets []string) (map[string]string, string, error) {
	var mine []string
	for _, t := range targets {
		if caddyTargets[t] {
			mine = append(mine, t)
		}
	}
	p, listen, admin, err := r.startCaddyProc("caddy", r.opts.CaddyBin, mine)
	if err != nil {
		return nil, "", err
	}
	r.caddy = p
	return listen, admin, nil
}

// startCaddyProc runs Caddy binary bin with a listener per target (each
// of them served by Caddy), in its own directory named name, and returns
// it once its admin endpoint and every listener answer.
func (r *runner) startCaddyProc(name, bin string, targets []string) (*proc, map[string]string, string, error) {
	listen := make(map[string]string)
	for _, t := range targets {
		a, err := freeAddr()
		if err != nil {
			return nil, nil, "", err
		}
		listen[t] = a
	}
	admin, err := freeAddr()
	if err != nil {
		return nil, nil, "", err
	}
	dir := r.tempPath(name)
	cfg := caddyfile(admin, listen, r.echo.addrs[0], r.echo.addrs[1])
	cfgPath := filepath.Join(dir, "Caddyfile")
	var env []string
	for _, kv := range [][2]string{{"HOME", "home"}, {"XDG_CONFIG_HOME", "config"}, {"XDG_DATA_HOME", "data"}, {"XDG_CACHE_HOME", "cache"}} {
		d := filepath.Join(dir, kv[1])
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, nil, "", err
		}
		env = append(env, kv[0]+"="+d)
	}
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return nil, nil, "", err
	}
	p, _, err := r.startProc(name, bin, []string{"run", "--config", cfgPath, "--adapter", "caddyfile"}, env, filepath.Join(dir, "caddy.log"), false)
	if err != nil {
		return nil, nil, "", err
	}
	// the admin endpoint first, then every listener
	deadline := time.Now().Add(30 * time.Second)
	client := &http.Client{Timeout: time.Second}
	for {
		if p.exited() {
			return nil, nil, "", fmt.Errorf("%s exited (%v); log:\n%s", name, p.err, p.logTail())
		}
		resp, err := client.Get("http://" + admin + "/config/")
		if err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			return nil, nil, "", fmt.Errorf("%s admin %s not ready after 30s; log:\n%s", name, admin, p.logTail())
		}
		time.Sleep(25 * time.Millisecond)
	}
	var addrs []string
	for _, a := range listen {
		addrs = append(addrs, a)
	}
	if err := waitListening(p, addrs, time.Until(deadline)); err != nil {
		return nil, nil, "", err
	}
	return p, listen, admin, nil
}

// haproxyConfig is HAProxy in TCP mode, least connections, west as a backup
// server (used only when east is down, as a cost-9999 link would be); with
// splice, kernel splicing is forced in both directions.
func haproxyConfig(listen, east, west string, splice bool) string {
	opts := ""
	if splice {
		opts = "\toption splice-request\n\toption splice-response\n"
	}
	// 8,000 held connections for the idle measurement, and the file
	// descriptors that takes (two per connection and per pipe) within a
	// limit of 20,000 that HAProxy may not be allowed to raise
	return fmt.Sprintf(`global
	maxconn 9000
	maxpipes 500

defaults
	mode tcp
	timeout connect 5s
	timeout client 1m
	timeout server 1m

listen loadbench
	bind %s
	balance leastconn
%s	server east %s check inter 2s
	server west %s check inter 2s backup
`, listen, opts, east, west)
}

// startHAProxy runs HAProxy for target (haproxy or haproxy-splice) in the
// foreground and returns it and its listener.
func (r *runner) startHAProxy(target string) (*proc, string, error) {
	listen, err := freeAddr()
	if err != nil {
		return nil, "", err
	}
	cfgPath := r.tempPath(target + ".cfg")
	if err := os.WriteFile(cfgPath, []byte(haproxyConfig(listen, r.echo.addrs[0], r.echo.addrs[1], target == "haproxy-splice")), 0o644); err != nil {
		return nil, "", err
	}
	p, _, err := r.startProc(target, r.opts.HAProxyBin, []string{"-db", "-f", cfgPath}, nil, r.tempPath(target+".log"), false)
	if err != nil {
		return nil, "", err
	}
	if err := waitListening(p, []string{listen}, 15*time.Second); err != nil {
		return nil, "", err
	}
	return p, listen, nil
}

// startSelfChild starts this binary again with env added, as the child
// named name logging to logName, and waits up to 10 s for its line on
// stdout that starts with tag and has n fields after it, which it
// returns. Other lines before it go to the log.
func (r *runner) startSelfChild(name string, env []string, logName, tag string, n int) (*proc, []string, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", name, err)
	}
	p, stdout, err := r.startProc(name, exe, nil, env, r.tempPath(logName), true)
	if err != nil {
		return nil, nil, err
	}
	line := make(chan string, 1)
	go func() {
		s := bufio.NewScanner(stdout)
		for s.Scan() {
			if f := strings.Fields(s.Text()); len(f) > 0 && f[0] == tag {
				line <- s.Text()
				break
			}
			_, _ = fmt.Fprintln(p.logFile, s.Text())
		}
		close(line)
		_, _ = io.Copy(io.Discard, stdout)
	}()
	select {
	case l, ok := <-line:
		f := strings.Fields(l)
		if !ok || len(f) != n+1 {
			return nil, nil, fmt.Errorf("%s: no line %q with %d fields on stdout (got %q); log:\n%s", name, tag, n, l, p.logTail())
		}
		return p, f[1:], nil
	case <-time.After(10 * time.Second):
		return nil, nil, fmt.Errorf("%s did not report within 10s; log:\n%s", name, p.logTail())
	}
}
