package linkgraph

// Paths on large graphs and from many goroutines at once.

import (
	"math/rand/v2"
	"reflect"
	"sync"
	"testing"
)

func TestPathsConcurrent(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	local, links := randomGraph(rng, 300, 3, 10)
	n := mustNew(t, local, links)
	base, err := n.Paths(nil)
	if err != nil {
		t.Fatal(err)
	}
	want := base.Routes()

	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				l := links[(g*20+i)%len(links)]
				ovs := []Link{ln(l.Between[0], l.Between[1], 1+int64(g))}
				p, err := n.Paths(ovs)
				if err != nil {
					t.Error(err)
					return
				}
				checkPaths(t, n, p, ovs)
				q, err := n.Paths(nil)
				if err != nil {
					t.Error(err)
					return
				}
				if !reflect.DeepEqual(q.Routes(), want) {
					t.Error("Paths(nil) changed while other goroutines used overrides")
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestPathsLargeGraph(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 10000))
	local, links := randomGraph(rng, 10000, 5, 100)
	n := mustNew(t, local, links)
	p, err := n.Paths(nil)
	if err != nil {
		t.Fatal(err)
	}
	if u := p.Unreachable(); len(u) != 0 {
		t.Fatalf("%d unreachable sites in a connected graph", len(u))
	}
	checkPaths(t, n, p, nil)
}
