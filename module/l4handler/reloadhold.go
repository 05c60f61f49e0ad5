package l4handler

import (
	"context"
	"errors"
	"net"
	"syscall"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/costlb/costlb/module"
)

// A reload must not fake a failover (module/reload.go says why a check
// can fail during one). So while a reload window is open, and for one
// health_timeout after it (a check begun in it may end that late), a
// backend that was healthy when it opened stays healthy whatever
// caddy-l4's active checks say. Then, the old listeners gone, a backend a
// check marked down meanwhile is dialed once more: if it answers, it stays
// up until caddy-l4's own checks have had time to see it up again (rise
// checks, one interval apart), else it is down at once. A backend that
// truly died during a reload is thus seen down about one check later than
// otherwise.
//
// The hold lives in the address's passive state, shared by every config
// that dials the address, so the new config's services honour a hold the
// old config's set.

// holdMargin is added to a confirmed hold beyond the checks' own time.
const holdMargin = 250 * time.Millisecond

// HoldHealth marks every backend healthy now as held for the reload
// window epoch (module.HealthHolder).
func (h *Handler) HoldHealth(epoch uint64) {
	for i := range h.backends {
		b := &h.backends[i]
		if upstreamHealthy(b.checked) && h.passivePol.healthy(b.passive) {
			b.passive.holdEpoch.Store(epoch)
		}
	}
}

// ConfirmHealth ends the hold of every backend held for the reload window
// epoch (module.HealthHolder). A check that began during the window may
// end up to health_timeout later, so each stays held that long; then, if
// caddy-l4 reports it down, it is dialed once and held up for the checks'
// time if it answers, else let go at once. It returns at once; the rest
// runs on its own, bounded by twice health_timeout.
func (h *Handler) ConfirmHealth(epoch uint64) {
	interval, timeout := h.readyInterval, h.readyTimeout
	rise := 1
	if hc := h.HealthChecks; hc != nil && hc.Active != nil {
		rise = max(hc.Active.Rise, 1)
	}
	for i := range h.backends {
		b := &h.backends[i]
		st := b.passive
		if st.holdEpoch.Load() != epoch {
			continue
		}
		st.holdUntil.Store(time.Now().Add(2*timeout + holdMargin).UnixNano())
		network, addr := h.checkAddr(b)
		time.AfterFunc(timeout, func() {
			until := int64(0)
			if !upstreamHealthy(b.checked) && confirmDial(network, addr, timeout) == nil {
				until = time.Now().Add(time.Duration(rise)*interval + timeout + holdMargin).UnixNano()
			}
			st.holdUntil.Store(until)
		})
	}
}

// held reports whether s's health is held up against caddy-l4's active
// checks now: for the reload window open now, or until a confirmed hold
// ends. It is read only when caddy-l4 reports the backend down.
func (s *passiveState) held() bool {
	if e := s.holdEpoch.Load(); e != 0 && e == module.ReloadEpoch() {
		return true
	}
	until := s.holdUntil.Load()
	return until != 0 && time.Now().UnixNano() < until
}

// activeHealthy is caddy-l4's active health of b, as costlb judges it
// around a reload.
func (b *backend) activeHealthy() bool {
	return upstreamHealthy(b.checked) || b.passive.held()
}

// checkAddr is the network and address an active check of b dials:
// its address, on health_port if one is set, as caddy-l4's checker does.
func (h *Handler) checkAddr(b *backend) (network, addr string) {
	a, err := caddy.ParseNetworkAddress(b.addr())
	if err != nil {
		return "tcp", b.addr()
	}
	if hc := h.HealthChecks; hc != nil && hc.Active != nil && hc.Active.Port > 0 {
		a.StartPort, a.EndPort = uint(hc.Active.Port), uint(hc.Active.Port)
	}
	return a.Network, a.JoinHostPort(0)
}

// confirmDial connects to the backend and closes at once, as caddy-l4's
// active check does.
func confirmDial(network, addr string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var d net.Dialer
	c, err := d.DialContext(ctx, network, addr)
	if err != nil {
		return err
	}
	return c.Close()
}

// reloadReset reports whether err, a failed dial, may come from a reload
// of this Caddy rather than from the backend: a reload window is open and
// the dial was reset or refused. Such a failure is no passive health
// check failure; the connection is tried again as any other.
func reloadReset(err error) bool {
	return module.ReloadEpoch() != 0 && (errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED))
}
