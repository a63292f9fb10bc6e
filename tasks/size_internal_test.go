package tasks

import (
	"testing"
	"unsafe"
)

// TestGroupSize keeps a Group within the 160-byte size class: a state
// machine makes one per entry of a state with tasks, and an idle
// connection holds one for as long as it is up.
func TestGroupSize(t *testing.T) {
	if n := unsafe.Sizeof(Group{}); n > 160 {
		t.Errorf("a Group is %d bytes, over 160", n)
	}
}

// TestTimerSize keeps a Timer within the 48-byte size class: an idle
// connection's heartbeat holds one.
func TestTimerSize(t *testing.T) {
	if n := unsafe.Sizeof(Timer{}); n > 48 {
		t.Errorf("a Timer is %d bytes, over 48", n)
	}
}
