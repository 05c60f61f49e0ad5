package main

import (
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
)

// Child targets are proxies served by this binary (or its test binary)
// re-executed, one process per target: go-proxy and any other proxy
// written in Go for the comparison. Each is a childServe function in
// childTargets (bench.go); loadbench starts the child with
// childTargetEnv set to the target's name, the child looks its function
// up there, calls it and reports the address it listens on.

// childTargetEnv, set to a child target's name, makes the loadbench binary
// serve that target instead of running the benchmark; childBackendEnv is
// the backend address it proxies to.
const (
	childTargetEnv  = "LOADBENCH_CHILD_TARGET"
	childBackendEnv = "LOADBENCH_CHILD_BACKEND"
)

// childTag starts the line a child target prints on stdout once it
// listens: "LISTEN <addr>".
const childTag = "LISTEN"

// childServe serves a child target in its child process: it starts
// listening on a 127.0.0.1 port, proxying every connection accepted there
// to backend, and returns that address at once, serving on in goroutines
// of its own. The child runs until its stdin closes (the parent stopped
// or died) and then exits; stdout is the parent's, so the function must
// not write to it (os.Stdout is stderr while it runs).
type childServe func(backend string) (addr string, err error)

// maybeRunChildTarget runs the child target named by childTargetEnv and
// returns true when this process was started as one; main and TestMain
// call it first.
func maybeRunChildTarget() bool {
	name := os.Getenv(childTargetEnv)
	if name == "" {
		return false
	}
	serve, ok := childTargets[name]
	if !ok {
		fmt.Fprintf(os.Stderr, "%s=%q: not a child target; child targets: %s\n", childTargetEnv, name, strings.Join(slices.Sorted(maps.Keys(childTargets)), ","))
		os.Exit(2)
	}
	backend := os.Getenv(childBackendEnv)
	if backend == "" {
		fmt.Fprintf(os.Stderr, "%s: %s is empty; it must be the backend's host:port\n", name, childBackendEnv)
		os.Exit(2)
	}
	out := os.Stdout
	os.Stdout = os.Stderr
	addr, err := serve(backend)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", name, err)
		os.Exit(1)
	}
	fmt.Fprintf(out, "%s %s\n", childTag, addr)
	_, _ = io.Copy(io.Discard, os.Stdin)
	os.Exit(0)
	return true
}

// startChildTarget starts this binary again serving child target target,
// proxying to the east backend, as the process named instance (its log is
// instance.log), and returns it and the address it listens on.
func (r *runner) startChildTarget(target, instance string) (*proc, string, error) {
	env := []string{childTargetEnv + "=" + target, childBackendEnv + "=" + r.echo.addrs[0]}
	p, f, err := r.startSelfChild(instance, env, instance+".log", childTag, 1)
	if err != nil {
		return nil, "", err
	}
	return p, f[0], nil
}
