//go:build !linux

package module

import "syscall"

// spliceStream always falls back to copying through buffers: splice(2) is
// Linux's.
func spliceStream(dst, src *leg) (n int64, end endKind, err error, fallback bool) {
	return 0, 0, nil, true
}

// idlePipes returns how many pipes the pool holds, and how many are out:
// none without splice.
func idlePipes() (idle, out int) { return 0, 0 }

// resetAtEOF cannot tell a reset from a FIN here: it reports false.
func resetAtEOF(rc syscall.RawConn) bool { return false }
