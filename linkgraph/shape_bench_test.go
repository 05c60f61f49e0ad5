package linkgraph

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// benchShape is a network shape for the memory benchmarks.
type benchShape struct {
	name  string
	local string
	links []Link
}

// chainGraph returns a chain of sites c0-c1-...-c<sites-1>, cost 1 each,
// seen from c0: the shape whose paths are longest for its size.
func chainGraph(sites int) (string, []Link) {
	links := make([]Link, sites-1)
	for i := range links {
		links[i] = ln(fmt.Sprintf("c%d", i), fmt.Sprintf("c%d", i+1), 1)
	}
	return "c0", links
}

// ladderGraph returns a ladder of sites: rails a0-a1-... and 0b0-0b1-...
// joined by a rung at every step, cost 1 each, seen from a0. Every site
// of the 0b rail has two cheapest paths of equal hops, and the one along
// the 0b rail wins, as "0b0" sorts before "a1": the two paths meet only at
// a0, the worst case of the tie-break.
func ladderGraph(sites int) (string, []Link) {
	var links []Link
	for i := range sites / 2 {
		a, b := fmt.Sprintf("a%d", i), fmt.Sprintf("0b%d", i)
		links = append(links, ln(a, b, 1))
		if i > 0 {
			links = append(links, ln(fmt.Sprintf("a%d", i-1), a, 1), ln(fmt.Sprintf("0b%d", i-1), b, 1))
		}
	}
	return "a0", links
}

func benchShapes() []benchShape {
	var shapes []benchShape
	for _, sites := range []int{10000, 200000} {
		local, links := chainGraph(sites)
		shapes = append(shapes, benchShape{fmt.Sprintf("chain/sites=%d", sites), local, links})
	}
	for _, sites := range []int{10000, 200000} {
		local, links := ladderGraph(sites)
		shapes = append(shapes, benchShape{fmt.Sprintf("ladder/sites=%d", sites), local, links})
	}
	for _, sites := range []int{10000, 200000} {
		rng := rand.New(rand.NewPCG(1, uint64(sites)))
		local, links := randomGraph(rng, sites, 5, 100)
		shapes = append(shapes, benchShape{fmt.Sprintf("random/sites=%d", sites), local, links})
	}
	return shapes
}

// retainedHeap runs op once and returns the heap it leaves reachable
// through its result, in bytes.
func retainedHeap(op func() any) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	keep := op()
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(keep)
	return float64(int64(after.HeapAlloc) - int64(before.HeapAlloc))
}

// BenchmarkPathsMemory measures, on chains, ladders and random networks
// (about 5 links per site, costs 1 to 100), the time and the memory of computing
// the cheapest paths and of reading them: costs only (Costs) or with every
// path (Routes, which no caller should use on a large network). Besides
// B/op (allocated per run) it reports retained-B: the heap still reachable
// through the result, measured with runtime.MemStats after a GC.
func BenchmarkPathsMemory(b *testing.B) {
	for _, s := range benchShapes() {
		n := mustNew(b, s.local, s.links)
		sites := len(n.Sites())
		ops := []struct {
			name string
			op   func() any
		}{
			{"paths", func() any { p, _ := n.Paths(nil); return p }},
			{"costs", func() any { p, _ := n.Paths(nil); return p.Costs() }},
			{"routes", func() any { p, _ := n.Paths(nil); return p.Routes() }},
		}
		for _, o := range ops {
			if o.name == "routes" && (s.name == "chain/sites=200000" || s.name == "ladder/sites=200000") {
				continue // 2e10 path entries: every path of a long chain does not fit in memory
			}
			b.Run(s.name+"/"+o.name, func(b *testing.B) {
				retained := retainedHeap(o.op)
				b.ReportAllocs()
				for b.Loop() {
					runtime.KeepAlive(o.op())
				}
				// after the loop: ResetTimer and b.Loop drop earlier metrics
				b.ReportMetric(retained, "retained-B")
				b.ReportMetric(retained/float64(sites), "retained-B/site")
			})
		}
	}
}
