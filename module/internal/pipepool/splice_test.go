package pipepool

import "testing"

// TestBurst: a full read starts splice mode; SmallBurstsToRead small
// bursts in a row end it, a large one in between starts the count again;
// a refusal is for good, and a direction that cannot splice never does.
func TestBurst(t *testing.T) {
	const full = 100
	b := NewBurst(full, true)
	if b.Read(full - 1); b.Splicing() {
		t.Fatal("a short read started splice mode")
	}
	if b.Read(full); !b.Splicing() {
		t.Fatal("a full read did not start splice mode")
	}
	for i := 1; i < SmallBurstsToRead; i++ {
		b.Spliced(full - 1)
		if b.Drained(); !b.Splicing() {
			t.Fatalf("splice mode ended after %d small bursts, want %d", i, SmallBurstsToRead)
		}
	}
	b.Spliced(full) // a large burst: the count starts again
	b.Drained()
	for i := 1; i < SmallBurstsToRead; i++ {
		if b.Drained(); !b.Splicing() {
			t.Fatalf("after a large burst, splice mode ended after %d small ones", i)
		}
	}
	if b.Drained(); b.Splicing() {
		t.Fatalf("splice mode lasted past %d small bursts in a row", SmallBurstsToRead)
	}
	if b.Read(full); !b.Splicing() {
		t.Fatal("a full read after reading did not splice again")
	}
	if b.Refuse(); b.Splicing() {
		t.Fatal("splicing after Refuse")
	}
	if b.Read(full); b.Splicing() {
		t.Fatal("a full read after Refuse started splice mode")
	}
	never := NewBurst(full, false)
	if never.Read(full); never.Splicing() {
		t.Fatal("a direction that cannot splice started splice mode")
	}
}
