package module

import (
	"os"
	"strings"
	"sync"

	"go.uber.org/zap"
)

// tcpMigrateReq is the kernel setting that hands the connections waiting
// in a closed listening socket's accept queue to another socket on the
// same port (SO_REUSEPORT) instead of resetting them. Caddy opens new
// sockets on each reload and closes the old ones, so with it off a reload
// resets the connections that arrived in the instant before (see
// docs/health-and-reloads.md for the figures).
const tcpMigrateReq = "/proc/sys/net/ipv4/tcp_migrate_req"

// warnMigrate warns once per process.
var warnMigrate sync.Once

// warnTCPMigrate logs one warning, the first time a costlb app starts,
// when the kernel resets queued connections on a reload: the setting is 0,
// or this kernel (before Linux 5.14) has no such setting.
func warnTCPMigrate(logger *zap.Logger) {
	warnMigrate.Do(func() { logTCPMigrate(logger, tcpMigrateReq) })
}

// logTCPMigrate reads the setting at path and warns if it is not on.
func logTCPMigrate(logger *zap.Logger, path string) {
	b, err := os.ReadFile(path)
	switch {
	case err != nil && os.IsNotExist(err):
		logger.Warn("costlb: a reload may reset connections waiting to be accepted",
			zap.String("setting", "net.ipv4.tcp_migrate_req"),
			zap.String("reason", "this kernel has no such setting (Linux 5.14 and later have it): Caddy closes its old listening sockets on each reload, and the kernel resets the connections still queued on them"))
	case err != nil:
		logger.Warn("costlb: cannot read net.ipv4.tcp_migrate_req", zap.Error(err))
	case strings.TrimSpace(string(b)) == "0":
		logger.Warn("costlb: a reload may reset connections waiting to be accepted",
			zap.String("setting", "net.ipv4.tcp_migrate_req"),
			zap.String("reason", "it is 0: Caddy closes its old listening sockets on each reload, and the kernel resets the connections still queued on them instead of handing them to the new sockets"),
			zap.String("fix", "sysctl -w net.ipv4.tcp_migrate_req=1 (and net.ipv4.tcp_migrate_req = 1 in /etc/sysctl.d/ to keep it)"))
	}
}
