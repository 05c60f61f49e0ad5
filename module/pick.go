package module

import (
	"fmt"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/costlb/costlb/costlb"
)

// PickLog logs every pick of a service at debug level.
type PickLog struct {
	logger  *zap.Logger
	service string
}

// NewPickLog returns the pick log of service, or nil when logger does not
// log at debug level. Caddy's log levels change only with a reload: a
// service decides once whether picks are logged, so that the pick path
// never consults the logger.
func NewPickLog(logger *zap.Logger, service string) *PickLog {
	if !logger.Core().Enabled(zapcore.DebugLevel) {
		return nil
	}
	return &PickLog{logger: logger, service: service}
}

// Pick picks with bal, counting the connection holding t if t is not nil,
// and logs the pick to l unless l is nil. It returns the backend's index,
// or -1 if none is available.
func Pick(bal *costlb.Balancer, t *costlb.Ticket, l *PickLog) int {
	if l != nil {
		return l.pick(bal, t)
	}
	return bal.Pick(t)
}

// pick picks with bal (holding t, if not nil) and logs the perceived costs
// the pick considered, read just before it, and the backend it chose.
func (l *PickLog) pick(bal *costlb.Balancer, t *costlb.Ticket) int {
	ce := l.logger.Check(zapcore.DebugLevel, "costlb pick")
	var costs []string
	if ce != nil {
		costs = make([]string, bal.Len())
		for i := range costs {
			st := bal.State(i)
			live := fmt.Sprint(st.Live)
			if st.Weight > 1 || st.Share < 1_000_000 { // the weighted rule: live ÷ effective weight
				live = fmt.Sprintf("%d ÷ %g", st.Live, float64(st.Weight)*float64(st.Share)/1e6)
			}
			costs[i] = fmt.Sprintf("%s@%s=%d(path %d + live %s, available %t)", st.Address, st.Site, st.Perceived, st.TotalCost, live, st.Available)
		}
	}
	i := bal.Pick(t)
	if ce != nil {
		chosen := ""
		if i >= 0 {
			chosen = bal.Backend(i).Address
		}
		ce.Write(zap.String("service", l.service), zap.String("chosen", chosen), zap.Strings("perceived_costs", costs))
	}
	return i
}
