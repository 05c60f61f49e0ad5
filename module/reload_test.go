package module

import (
	"slices"
	"testing"
)

// holder is a service that records the reload calls it gets.
type holder struct {
	useOnly
	calls *[]string
}

func (h holder) HoldHealth(epoch uint64)    { *h.calls = append(*h.calls, h.name+" hold") }
func (h holder) ConfirmHealth(epoch uint64) { *h.calls = append(*h.calls, h.name+" confirm") }

// TestReloadWindow: a second app opens a reload window and the running
// app's services hold their health; the old app's cleanup closes it and
// the new app's services confirm, before ReloadEpoch reads 0 again. A
// first app, and the cleanup of a refused new config, open nothing new.
func TestReloadWindow(t *testing.T) {
	var calls []string
	app := func(name string) *App {
		a := new(App)
		if err := a.Register(holder{useOnly{name: name}, &calls}); err != nil {
			t.Fatal(err)
		}
		return a
	}
	expect := func(step string, epochOpen bool, want ...string) {
		t.Helper()
		if got := ReloadEpoch() != 0; got != epochOpen {
			t.Errorf("%s: window open %t, want %t", step, got, epochOpen)
		}
		if !slices.Equal(calls, want) {
			t.Errorf("%s: calls %q, want %q", step, calls, want)
		}
		calls = nil
	}
	first, second, refused := app("first"), app("second"), app("refused")
	enterReload(first)
	expect("first config", false)
	enterReload(second)
	expect("reload begins", true, "first hold")
	e := ReloadEpoch()
	leaveReload(first)
	expect("old config cleaned up", false, "second confirm")

	enterReload(refused)
	expect("a new config", true, "second hold")
	if ReloadEpoch() == e {
		t.Errorf("a new window has the number of the last one, %d", e)
	}
	leaveReload(refused)
	expect("the new config refused", false, "second confirm")
	leaveReload(second)
	expect("stop", false)
}
