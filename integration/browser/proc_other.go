//go:build !linux

package browser

import (
	"os/exec"
	"syscall"
)

// procAttr returns the default process attributes off Linux.
func procAttr() *syscall.SysProcAttr { return nil }

// killGroup kills the Chromium process.
func killGroup(cmd *exec.Cmd) {
	if cmd.Process != nil {
		_ = cmd.Process.Kill()
	}
}
