package l4handler

import "fmt"

// downReason tells why b is unhealthy, as far as costlb knows: caddy-l4's
// active health check, which keeps the check's error to its own log line,
// or costlb's passive checks, with what they counted.
func (h *Handler) downReason(b *backend) string {
	var why []string
	if !b.activeHealthy() {
		why = append(why, "active health check failing (its error is in Caddy's log)")
	}
	p, s := &h.passivePol, b.passive
	if n := s.fails.Load(); p.maxFails > 0 && n >= p.maxFails {
		why = append(why, fmt.Sprintf("passive health check: %d failed connections within fail_duration %v (max_fails %d)", n, p.failDuration, p.maxFails))
	}
	if s.downUntil.Load() != 0 && p.silentWithin > 0 {
		why = append(why, "passive health check: backend closed connections silently (fail_on_silent_close)")
	}
	switch len(why) {
	case 0:
		return "unhealthy"
	case 1:
		return why[0]
	}
	return why[0] + "; " + why[1]
}
