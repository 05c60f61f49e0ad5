package costlb

import (
	"fmt"
	"reflect"
	"slices"
	"sync/atomic"
	"testing"
)

func TestUsableRoutes(t *testing.T) {
	tests := []struct {
		name   string
		answer [][]string
		want   [][]string
	}{
		{"none", nil, nil},
		{"own backend", [][]string{{"B"}}, [][]string{{"B"}}},
		{"drops routes through the local site", [][]string{{"B", "A"}, {"B"}, {"B", "C", "A"}}, [][]string{{"B"}}},
		{"only routes through the local site", [][]string{{"B", "A"}, {"B", "C", "A"}}, nil},
		{"drops malformed routes", [][]string{{}, {"B", ""}, {"B", "C"}}, [][]string{{"B", "C"}}},
		{"sorts shortest first, then by name, without duplicates",
			[][]string{{"B", "D", "E"}, {"B", "C"}, {"B"}, {"B", "C"}, {"B", "A2"}},
			[][]string{{"B"}, {"B", "A2"}, {"B", "C"}, {"B", "D", "E"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := UsableRoutes(tt.answer, "A")
			if len(got) == 0 && len(tt.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("UsableRoutes(%q, A) = %q, want %q", tt.answer, got, tt.want)
			}
		})
	}
}

func TestNormalizeRoutesKeepsTheShortest(t *testing.T) {
	var routes [][]string
	for i := 0; i < 3*MaxRoutes; i++ {
		r := []string{"B"}
		for j := 0; j < i%5; j++ {
			r = append(r, fmt.Sprintf("s%02d", i))
		}
		routes = append(routes, r)
	}
	got := NormalizeRoutes(slices.Clone(routes)) // it sorts and clears in place
	if len(got) != MaxRoutes {
		t.Fatalf("kept %d routes, want MaxRoutes = %d", len(got), MaxRoutes)
	}
	if !reflect.DeepEqual(got[0], []string{"B"}) {
		t.Errorf("first route %q, want [B] (the shortest)", got[0])
	}
	for i := 1; i < len(got); i++ {
		if len(got[i]) < len(got[i-1]) {
			t.Fatalf("route %d %q is shorter than route %d %q: not shortest first", i, got[i], i-1, got[i-1])
		}
	}
	// no route shorter than the longest kept was dropped
	kept := make(map[string]bool)
	for _, r := range got {
		kept[fmt.Sprint(r)] = true
	}
	longest := len(got[len(got)-1])
	for _, r := range routes {
		if len(r) < longest && !kept[fmt.Sprint(r)] {
			t.Errorf("route %q (%d sites) was dropped while longer ones (%d sites) were kept", r, len(r), longest)
		}
	}
}

func TestDirectAndViaGateway(t *testing.T) {
	if got := Direct("A", "A"); !reflect.DeepEqual(got, []string{"A"}) {
		t.Errorf("Direct(A, A) = %q, want [A]", got)
	}
	if got := Direct("A", "C"); !reflect.DeepEqual(got, []string{"A", "C"}) {
		t.Errorf("Direct(A, C) = %q, want [A C]", got)
	}
	usable := [][]string{{"B"}, {"B", "C"}}
	got := ViaGateway("A", usable)
	if want := [][]string{{"A", "B"}, {"A", "B", "C"}}; !reflect.DeepEqual(got, want) {
		t.Errorf("ViaGateway(A, %q) = %q, want %q", usable, got, want)
	}
	if !reflect.DeepEqual(usable, [][]string{{"B"}, {"B", "C"}}) {
		t.Errorf("ViaGateway changed its input: %q", usable)
	}
}

// TestPickSkipsGatewayNotReady: a gateway that is healthy but not ready
// gets nothing, however cheap, and the primary site moves off it.
func TestPickSkipsGatewayNotReady(t *testing.T) {
	reg := NewRegistry()
	var ready atomic.Bool
	var shifts []Shift
	b, err := New([]Backend{
		{Site: "B", Address: "gw", PathCost: 1, Counter: reg.Counter("gw"), Ready: ready.Load},
		{Site: "C", Address: "c", PathCost: 10, Counter: reg.Counter("c")},
	}, func(s Shift) { shifts = append(shifts, s) })
	if err != nil {
		t.Fatal(err)
	}
	if i := b.Pick(nil); i != 1 {
		t.Fatalf("pick with the gateway not ready: backend %d, want 1 (site C)", i)
	}
	st := b.State(0)
	if !st.Healthy || st.Ready || st.Available {
		t.Errorf("gateway state %+v: want healthy, not ready, not available", st)
	}
	ready.Store(true)
	if i := b.Pick(nil); i != 0 {
		t.Fatalf("pick with the gateway ready: backend %d, want 0 (site B)", i)
	}
	if st := b.State(0); !st.Ready || !st.Available {
		t.Errorf("gateway state %+v: want ready and available", st)
	}
	ready.Store(false)
	if i := b.Pick(nil); i != 1 {
		t.Fatalf("pick after the gateway went not ready: backend %d, want 1", i)
	}
	if len(shifts) != 3 || shifts[1].To != "B" || shifts[2].From != "B" || shifts[2].To != "C" || !shifts[2].Failover() {
		t.Errorf("shifts %+v: want initial C, then C->B, then failover B->C", shifts)
	}
}
