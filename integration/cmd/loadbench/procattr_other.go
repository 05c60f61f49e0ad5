//go:build !linux

package main

import "syscall"

// childProcAttr returns the default process attributes off Linux; the
// children are still stopped by loadbench's cleanup and the echo child exits
// when its stdin closes.
func childProcAttr() *syscall.SysProcAttr { return nil }
