//go:build !linux

package streamcopy

import "syscall"

// Without splice(2), which is Linux's, the copy loop reads and writes.

const spliceSupported = false

type pipe struct{}

func putPipe(*pipe) {}

// spliceStep is never reached without splice: it goes back to reading.
func (c *rawCopier) spliceStep(int) stepResult {
	c.burst.Refuse()
	return stepAgain
}

// idlePipes returns how many pipes the pool holds: none without splice.
func idlePipes() int { return 0 }

// resetAtEOF cannot tell a reset from a FIN here: it reports false.
func resetAtEOF(syscall.RawConn) bool { return false }
