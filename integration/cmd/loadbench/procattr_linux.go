package main

import "syscall"

// childProcAttr makes the kernel kill a child (Caddy, HAProxy, the echo
// backends) if loadbench dies without running its cleanup.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
