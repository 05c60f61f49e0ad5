package harness

import "syscall"

// childProcAttr makes the kernel kill a started Caddy if the test process
// dies without running its Cleanups.
func childProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
