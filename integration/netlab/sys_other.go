//go:build !linux

package netlab

import (
	"errors"
	"syscall"
)

var errUnsupported = errors.New("unsupported on this system (it needs Linux network namespaces and TUN devices)")

type sysLab struct{}

func supported() error { return errUnsupported }

func (l *Lab) build() error { return errUnsupported }

func (l *Lab) close() {}

func inNetns(ns string, fn func() error) error { return errUnsupported }

func deathSig() *syscall.SysProcAttr { return nil }
