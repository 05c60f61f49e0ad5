// Package costlbtest is the independent reference model of costlb's pick
// rule, for tests only: the unit tests check costlb.Balancer against it and
// the integration tests check a real Caddy against it. The rule, as the
// README states it: every new connection goes to the available backend
// with the lowest perceived cost = path cost + live connections ÷ weight;
// ties go to the lower path cost, then rotate among equal backends. The model
// restates it plainly and sequentially (no atomics, no rotation stamps, no
// shared code with the balancer), so that a test compares the balancer with
// the rule, not with a copy of itself. Production code must not import it.
package costlbtest

import "math/big"

// Backend is one backend as the pick rule sees it.
type Backend struct {
	// Key names the backend; live counts are kept by key. Use the dial
	// address when several models stand for config generations or
	// services that share an address's count, as costlb's counters do.
	Key string
	// Path is the path cost from the local site to the backend's site.
	Path int64
	// Max is the backend's max_connections; 0 means no limit.
	Max int64
	// Weight is the backend's weight; 0 means 1. Its live count counts as
	// live ÷ Weight.
	Weight int64
}

// Model replays the pick rule for one config generation of one service, one
// new connection at a time. The live counts belong to the caller, so that
// they carry over to the Model of the next generation, as a reload builds a
// new balancer over the same counters.
type Model struct {
	bes    []Backend
	picked []uint64 // when each backend was last picked; 0: never
	clock  uint64
}

// New returns a model of a service with backends bes, in config order.
func New(bes ...Backend) *Model {
	return &Model{bes: bes, picked: make([]uint64, len(bes))}
}

// Pick places one new connection by the rule: among backends below their
// Max, the one with the lowest perceived cost (Path + live connections ÷
// Weight, an exact fraction);
// ties go to the lower Path, then to the backend picked least recently
// (never picked: the one listed first). It counts the connection in live
// and returns the chosen backend's Key, or "" if every backend is full.
func (m *Model) Pick(live map[string]int64) string {
	if i := m.pick(live); i >= 0 {
		return m.bes[i].Key
	}
	return ""
}

// Place places n connections that all stay open, one after the other, and
// returns how many went to each backend, by index; the rest were refused.
func (m *Model) Place(live map[string]int64, n int) []int {
	counts := make([]int, len(m.bes))
	for range n {
		if i := m.pick(live); i >= 0 {
			counts[i]++
		}
	}
	return counts
}

func (m *Model) pick(live map[string]int64) int {
	best := -1
	for i, b := range m.bes {
		if b.Max > 0 && live[b.Key] >= b.Max {
			continue
		}
		if best < 0 || m.before(i, best, live) {
			best = i
		}
	}
	if best >= 0 {
		m.clock++
		m.picked[best] = m.clock
		live[m.bes[best].Key]++
	}
	return best
}

// before reports whether backend i wins over backend j by the rule.
func (m *Model) before(i, j int, live map[string]int64) bool {
	a, b := m.bes[i], m.bes[j]
	if d := a.perceived(live).Cmp(b.perceived(live)); d != 0 {
		return d < 0
	}
	if a.Path != b.Path {
		return a.Path < b.Path
	}
	if m.picked[i] != m.picked[j] {
		return m.picked[i] < m.picked[j]
	}
	return i < j
}

// perceived returns the backend's perceived cost, Path + live ÷ Weight, as
// an exact fraction.
func (b Backend) perceived(live map[string]int64) *big.Rat {
	w := b.Weight
	if w == 0 {
		w = 1
	}
	c := big.NewRat(live[b.Key], w)
	return c.Add(c, new(big.Rat).SetInt64(b.Path))
}
