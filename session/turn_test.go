package session

import (
	"testing"
	"testing/synctest"
)

// TestTurn: the right to call the handler is held by one at a time; a
// waiter takes it once it is given back, or gives up when its done
// channel closes; taking and giving it back allocates nothing, where the
// channel it replaced cost every client with a handler 96 bytes.
func TestTurn(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var tn turn
		if !tn.tryTake() {
			t.Fatal("tryTake of a free turn = false")
		}
		if tn.tryTake() {
			t.Fatal("tryTake of a held turn = true")
		}
		took := make(chan bool, 2)
		go func() { took <- tn.take(nil) }()
		done := make(chan struct{})
		go func() { took <- tn.take(done) }()
		synctest.Wait()
		if len(took) != 0 {
			t.Fatal("take returned while the turn was held")
		}
		close(done) // the second waiter gives up
		synctest.Wait()
		if got := <-took; got {
			t.Error("take with its done closed = true, want false")
		}
		tn.give()
		synctest.Wait()
		if got := <-took; !got {
			t.Error("take once the turn was given back = false, want true")
		}
		if tn.tryTake() {
			t.Error("tryTake while the waiter holds the turn = true")
		}
		tn.give()
	})
	var tn turn
	if n := testing.AllocsPerRun(100, func() {
		if !tn.tryTake() {
			t.Fatal("tryTake of a free turn = false")
		}
		tn.give()
	}); n != 0 {
		t.Errorf("taking and giving back the turn allocates %v times, want 0", n)
	}
}
