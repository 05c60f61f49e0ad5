package module

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/costlb/costlb/costlb"
)

// TestReadyAnswerFits: an answer of MaxRoutes routes of MaxRouteHops
// sites with names of the longest size, which JSON escapes to six times
// their length, still fits MaxReadyAnswer, keeping the cheapest routes.
func TestReadyAnswerFits(t *testing.T) {
	long := func(i, j int) string { // 128 bytes, 768 once escaped
		return fmt.Sprintf("%03d%03d", i, j) + strings.Repeat("<", 122)
	}
	var routes []costlb.Route
	for i := 0; i < costlb.MaxRoutes; i++ {
		r := costlb.Route{Cost: int64(i)}
		for j := 0; j < costlb.MaxRouteHops; j++ {
			r.Sites = append(r.Sites, long(i, j))
		}
		routes = append(routes, r)
	}
	ans := ReadyAnswer{Service: strings.Repeat("s", maxServiceNameLen), Site: long(99, 99), Ready: true, Routes: routes}
	var w strings.Builder
	enc := json.NewEncoder(&w) // as writeJSON writes it
	if err := enc.Encode(ans.fit()); err != nil {
		t.Fatal(err)
	}
	b := []byte(w.String())
	if len(b) > MaxReadyAnswer {
		t.Fatalf("answer of %d bytes, over MaxReadyAnswer %d", len(b), MaxReadyAnswer)
	}
	var got struct{ Routes []costlb.Route }
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Routes) == 0 || len(got.Routes) == len(routes) {
		t.Fatalf("kept %d of %d routes: want some, not all (all would weigh about %d KiB)", len(got.Routes), len(routes), len(routes)*costlb.MaxRouteHops*768>>10)
	}
	for i, r := range got.Routes {
		if r.Cost != int64(i) {
			t.Fatalf("route %d kept has cost %d: want the cheapest kept, in order", i, r.Cost)
		}
	}
	small := ReadyAnswer{Service: "s", Site: "B", Ready: true, Routes: routes[:2]}
	if got := small.fit(); len(got.Routes) != 2 {
		t.Errorf("a small answer kept %d of its 2 routes, want both", len(got.Routes))
	}
}
