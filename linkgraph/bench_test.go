package linkgraph

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkPaths measures Paths on connected random networks with about 5
// links per site (a random spanning tree plus random extra links, costs
// 1 to 100), built from a fixed seed.
func BenchmarkPaths(b *testing.B) {
	for _, sites := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("sites=%d", sites), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, uint64(sites)))
			local, links := randomGraph(rng, sites, 5, 100)
			n := mustNew(b, local, links)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if _, err := n.Paths(nil); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPathsOverrides is BenchmarkPaths with 10 link-cost overrides.
func BenchmarkPathsOverrides(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 10000))
	local, links := randomGraph(rng, 10000, 5, 100)
	n := mustNew(b, local, links)
	var ovs []Link
	for _, l := range links[:10] {
		ovs = append(ovs, ln(l.Between[1], l.Between[0], 1))
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := n.Paths(ovs); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNew measures building a network of 10,000 sites.
func BenchmarkNew(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 10000))
	local, links := randomGraph(rng, 10000, 5, 100)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := New(local, links); err != nil {
			b.Fatal(err)
		}
	}
}
