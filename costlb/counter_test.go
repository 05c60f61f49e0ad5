package costlb

import (
	"sync"
	"testing"
)

// TestRegistryFreesUnusedCounters: a counter lives while a config holds it
// or a connection is counted on it, and no longer.
func TestRegistryFreesUnusedCounters(t *testing.T) {
	reg := NewRegistry()
	a := reg.Counter("a:1")
	if reg.Counter("a:1") != a || reg.Len() != 1 {
		t.Fatal("a second config got another counter for the same address")
	}
	b, err := New([]Backend{{Site: "s", Address: "a:1", Counter: a}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	var tk Ticket
	if b.Pick(&tk) != 0 {
		t.Fatal("no pick")
	}
	reg.Release(a)
	reg.Release(a) // both configs let go; one connection is still counted
	if reg.Len() != 1 || a.Live() != 1 {
		t.Fatalf("the counter went with its configs while a connection was counted (len %d, live %d)", reg.Len(), a.Live())
	}
	if c := reg.Counter("a:1"); c != a {
		t.Fatal("a new config did not get the counter that still counts a connection")
	} else {
		reg.Release(c)
	}
	tk.Release()
	if reg.Len() != 0 {
		t.Fatalf("%d counters left after the last config and connection", reg.Len())
	}
	if c := reg.Counter("a:1"); c == a || c.Live() != 0 {
		t.Fatal("the freed counter came back")
	}
}

// TestRegistryChurn: configs taking and releasing counters while
// connections come and go leave nothing behind and no count off.
func TestRegistryChurn(t *testing.T) {
	reg := NewRegistry()
	var wg sync.WaitGroup
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 500; i++ {
				c := reg.Counter("x:1")
				b, err := New([]Backend{{Site: "s", Address: "x:1", Counter: c}}, nil)
				if err != nil {
					t.Error(err)
					return
				}
				var tk Ticket
				b.Pick(&tk)
				if i%2 == 0 {
					reg.Release(c)
					tk.Release()
				} else {
					tk.Release()
					reg.Release(c)
				}
			}
		}()
	}
	wg.Wait()
	if reg.Len() != 0 {
		t.Fatalf("%d counters left after every config and connection went", reg.Len())
	}
}
