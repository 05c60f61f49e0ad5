package browser

import (
	"os/exec"
	"syscall"
)

// procAttr puts Chromium in its own process group, so that Close can end
// its helper processes too, and makes the kernel kill it if the test
// process dies without running its Cleanups.
func procAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// killGroup kills Chromium's process group: the browser and its helpers.
func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
}
