package module

import (
	"fmt"
	"testing"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/costlb/costlb/costlb"
)

// TestPickLogWeighted: a backend of weight other than 1 is logged with
// the division its perceived cost makes; one of weight 1 as before.
func TestPickLogWeighted(t *testing.T) {
	core, logs := observer.New(zapcore.DebugLevel)
	reg := costlb.NewRegistry()
	a, b := reg.Counter("a:1"), reg.Counter("b:1")
	bal, err := costlb.New([]costlb.Backend{
		{Site: "east", Address: "a:1", Counter: a},
		{Site: "east", Address: "b:1", Counter: b, Weight: 3},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	l := NewPickLog(zap.New(core), "svc")
	var held [4]costlb.Ticket
	for i := range held {
		Pick(bal, &held[i], l)
	}
	entries := logs.All()
	last := entries[len(entries)-1].ContextMap()["perceived_costs"]
	// a holds 1, b holds 2: 1 and 2 ÷ 3 (0 rounded down)
	want := "[a:1@east=1(path 0 + live 1, available true) b:1@east=0(path 0 + live 2 ÷ 3, available true)]"
	if got := fmt.Sprint(last); got != want {
		t.Fatalf("last pick logged %s, want %s", got, want)
	}
}
