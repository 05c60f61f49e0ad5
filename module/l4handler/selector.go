package l4handler

import (
	"fmt"

	"github.com/mholt/caddy-l4/modules/l4proxy"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/costlb/costlb/costlb"
)

// selector is costlb's pick over a service's backends.
type selector struct {
	h     *Handler
	ups   l4proxy.UpstreamPool
	bal   *costlb.Balancer
	debug bool // log every pick at debug level
}

// pick chooses the backend with the lowest perceived cost, counts the
// connection holding t on it and returns its index, or -1 if none is
// available.
func (s *selector) pick(t *costlb.Ticket) int {
	if s.debug {
		return debugPick(s.h.logger, s.h.Name, s.bal, t)
	}
	return s.bal.Pick(t)
}

// debugPick picks for service name with bal (holding t, if not nil) and
// logs, at debug level, the perceived costs the pick considered, read just
// before it, and the backend it chose.
func debugPick(logger *zap.Logger, name string, bal *costlb.Balancer, t *costlb.Ticket) int {
	ce := logger.Check(zapcore.DebugLevel, "costlb pick")
	var costs []string
	if ce != nil {
		costs = make([]string, bal.Len())
		for i := range costs {
			st := bal.State(i)
			costs[i] = fmt.Sprintf("%s@%s=%d(path %d + live %d, available %t)", st.Address, st.Site, st.Perceived, st.PathCost, st.Live, st.Available)
		}
	}
	i := bal.Pick(t)
	if ce != nil {
		chosen := ""
		if i >= 0 {
			chosen = bal.Backend(i).Address
		}
		ce.Write(zap.String("service", name), zap.String("chosen", chosen), zap.Strings("perceived_costs", costs))
	}
	return i
}
