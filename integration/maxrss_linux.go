package integration

import (
	"os"
	"syscall"
)

// maxRSS returns the peak resident memory of an exited process, in bytes,
// and true where the platform reports it.
func maxRSS(ps *os.ProcessState) (int64, bool) {
	ru, ok := ps.SysUsage().(*syscall.Rusage)
	if !ok {
		return 0, false
	}
	return ru.Maxrss * 1024, true // Linux reports kilobytes
}
