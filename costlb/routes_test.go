package costlb

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
)

func wire(cost string, sites ...string) WireRoute {
	return WireRoute{Sites: sites, Cost: json.RawMessage(cost)}
}

func TestUsableRoutes(t *testing.T) {
	tests := []struct {
		name    string
		answer  []WireRoute
		want    []Route
		dropped int
	}{
		{"none", nil, nil, 0},
		{"own backend", []WireRoute{wire("0", "B")}, []Route{{[]string{"B"}, 0}}, 0},
		{"drops routes through the local site", []WireRoute{wire("1", "B", "A"), wire("0", "B"), wire("2", "B", "C", "A")}, []Route{{[]string{"B"}, 0}}, 0},
		{"drops malformed routes, saying why", []WireRoute{wire("1"), wire("1", "B", ""), wire("1", "B", "C"), wire("-1", "B", "D")}, []Route{{[]string{"B", "C"}, 1}}, 3},
		{"cheapest first, then fewest hops, then names, without duplicates",
			[]WireRoute{wire("2", "B", "D", "E"), wire("2", "B", "C"), wire("5", "B"), wire("7", "B", "C"), wire("2", "B", "A2")},
			[]Route{{[]string{"B", "A2"}, 2}, {[]string{"B", "C"}, 2}, {[]string{"B", "D", "E"}, 2}, {[]string{"B"}, 5}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, dropped := UsableRoutes(tt.answer, "A")
			if len(dropped) != tt.dropped {
				t.Errorf("dropped %q, want %d reasons", dropped, tt.dropped)
			}
			if len(got) == 0 && len(tt.want) == 0 {
				return
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("UsableRoutes(A) = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseRouteCost(t *testing.T) {
	good := map[string]int64{"0": 0, "7": 7, "1e3": 1000, "1099511627776": MaxRouteCost, "-0": 0,
		"5e0": 5, "5.0": 5, "50e-1": 5, "1.099511627776e12": MaxRouteCost}
	for raw, want := range good {
		if got, err := ParseRouteCost(json.RawMessage(raw)); err != nil || got != want {
			t.Errorf("ParseRouteCost(%s) = %d, %v; want %d", raw, got, err, want)
		}
	}
	bad := map[string]string{
		"":       "no cost",
		"null":   "no cost",
		"-1":     "cost -1 is negative",
		"-1e400": "cost -1e400 is negative",
		"1.5":    "cost 1.5 is not a whole number",
		// float64 would round these to a whole number
		"0.99999999999999999": "cost 0.99999999999999999 is not a whole number",
		"1.0000000000000002":  "cost 1.0000000000000002 is not a whole number",
		"1e-400":              "cost 1e-400 is not a whole number",
		"05":                  "cost 05 is not a number",
		"+1":                  "cost +1 is not a number",
		`"x"`:                 `cost "x" is not a number`,
		`"3"`:                 `cost "3" is not a number`,
		"true":                "cost true is not a number",
		"[1]":                 "cost [1] is not a number",
		"1099511627777":       "cost 1099511627777 is too large",
		"4611686018427387904": "cost 4611686018427387904 is too large",
		"1e300":               "cost 1e300 is too large",
	}
	for raw, want := range bad {
		_, err := ParseRouteCost(json.RawMessage(raw))
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "whole number from 0 to 1099511627776") {
			t.Errorf("ParseRouteCost(%s) error %v, want one containing %q and the rule", raw, err, want)
		}
	}
}

func TestAddCostSaturates(t *testing.T) {
	for _, c := range [][3]int64{{1, 2, 3}, {MaxRouteCost - 1, 1, MaxRouteCost}, {MaxRouteCost, MaxRouteCost, MaxRouteCost}, {math.MaxInt64, math.MaxInt64, MaxRouteCost}} {
		if got := AddCost(c[0], c[1]); got != c[2] {
			t.Errorf("AddCost(%d, %d) = %d, want %d", c[0], c[1], got, c[2])
		}
	}
}

func TestNormalizeRoutesKeepsTheCheapest(t *testing.T) {
	var routes []Route
	for i := 0; i < 3*MaxRoutes; i++ {
		r := Route{Sites: []string{"B", fmt.Sprintf("s%02d", i)}, Cost: int64(i % 7)}
		for j := 0; j < i%5; j++ {
			r.Sites = append(r.Sites, fmt.Sprintf("x%d", j))
		}
		routes = append(routes, r)
	}
	got := NormalizeRoutes(slices.Clone(routes)) // it sorts and clears in place
	if len(got) != MaxRoutes {
		t.Fatalf("kept %d routes, want MaxRoutes = %d", len(got), MaxRoutes)
	}
	if !reflect.DeepEqual(got[0], Route{Sites: []string{"B", "s00"}, Cost: 0}) {
		t.Errorf("first route %v, want B→s00 at 0 (the cheapest, shortest)", got[0])
	}
	for i := 1; i < len(got); i++ {
		if compareRoutes(got[i-1], got[i]) >= 0 {
			t.Fatalf("route %d %v is not after route %d %v", i, got[i], i-1, got[i-1])
		}
	}
	// no route cheaper than the dearest kept was dropped
	kept := make(map[string]bool)
	for _, r := range got {
		kept[r.String()] = true
	}
	last := got[len(got)-1]
	for _, r := range routes {
		if compareRoutes(r, last) < 0 && !kept[r.String()] {
			t.Errorf("route %v was dropped while %v was kept", r, last)
		}
	}
}

func TestDirectAndViaGateway(t *testing.T) {
	if got := Direct("A", "A", 0); !reflect.DeepEqual(got, Route{[]string{"A"}, 0}) {
		t.Errorf("Direct(A, A) = %v, want [A] at 0", got)
	}
	if got := Direct("A", "C", 4); !reflect.DeepEqual(got, Route{[]string{"A", "C"}, 4}) {
		t.Errorf("Direct(A, C) = %v, want [A C] at 4", got)
	}
	long := make([]string, MaxRouteHops)
	for i := range long {
		long[i] = fmt.Sprintf("s%d", i)
	}
	usable := []Route{{[]string{"B"}, 0}, {[]string{"B", "C"}, 3}, {long, 1}, {[]string{"B", "D"}, MaxRouteCost}}
	got := ViaGateway("A", 2, usable)
	want := []Route{{[]string{"A", "B"}, 2}, {[]string{"A", "B", "C"}, 5}, {[]string{"A", "B", "D"}, MaxRouteCost}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("ViaGateway(A, 2, %v) = %v, want %v (the route of MaxRouteHops sites left out, the sum saturated)", usable, got, want)
	}
	if !reflect.DeepEqual(usable[1], Route{[]string{"B", "C"}, 3}) {
		t.Errorf("ViaGateway changed its input: %v", usable)
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

// TestPickAddsTheOnwardCost: a gateway's path cost in the pick is the cost
// to its site plus its onward cost, read on every pick: A's gateway B at 2
// serving onwards at 3 (5) beats E at 9; onwards at 8 (10) it loses to E;
// at 4 onwards it takes held connections until its perceived cost reaches
// E's, and at equal perceived cost the lower path cost (the total) wins.
func TestPickAddsTheOnwardCost(t *testing.T) {
	reg := NewRegistry()
	var onward atomic.Int64
	b, err := New([]Backend{
		{Site: "B", Address: "gw", PathCost: 2, Counter: reg.Counter("gw"), Ready: func() bool { return true }, Onward: &onward},
		{Site: "E", Address: "e", PathCost: 9, Counter: reg.Counter("e")},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		onward int64
		want   int
	}{{3, 0}, {8, 1}, {3, 0}, {7, 1}} // 2+7 = 9 ties E's 9 in all: the least recently picked, E
	for i, st := range steps {
		onward.Store(st.onward)
		if got := b.Pick(nil); got != st.want {
			t.Fatalf("step %d (onward %d): picked %d, want %d", i+1, st.onward, got, st.want)
		}
	}
	onward.Store(4)
	var tk [3]Ticket
	for i := range tk[:2] { // 6 and 7 against 9: both go to B
		if got := b.Pick(&tk[i]); got != 0 {
			t.Fatalf("held pick %d: %d, want 0 (B at 6+live)", i, got)
		}
	}
	if st := b.State(0); st.TotalCost != 6 || st.OnwardCost != 4 || st.PathCost != 2 || st.Perceived != 8 {
		t.Errorf("B's state %+v: want total 6 = 2 + onward 4, perceived 8", st)
	}
	if got := b.Pick(&tk[2]); got != 0 { // 8 against 9
		t.Fatalf("third held pick: %d, want 0 (B at 8 < 9)", got)
	}
	if got := b.Pick(nil); got != 0 { // 6+3 live = 9 against E's 9: the lower path cost, B's 6
		t.Fatalf("pick at equal perceived cost: %d, want 0 (B's path cost 6 < E's 9)", got)
	}
	for i := range tk {
		tk[i].Release()
	}
}
