//go:build !linux

package integration

import "time"

// processCPU is not available here.
func processCPU(int) (time.Duration, bool) { return 0, false }
