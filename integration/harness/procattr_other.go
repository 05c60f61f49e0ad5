//go:build !linux

package harness

import "syscall"

// childProcAttr returns the default process attributes off Linux.
func childProcAttr() *syscall.SysProcAttr { return nil }
