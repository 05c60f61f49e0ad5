//go:build !linux

package module

import "go.uber.org/zap"

// warnTCPMigrate does nothing: net.ipv4.tcp_migrate_req is a Linux setting.
func warnTCPMigrate(*zap.Logger) {}
