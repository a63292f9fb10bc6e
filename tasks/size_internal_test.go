package tasks

import (
	"testing"
	"unsafe"
)

// TestGroupSize keeps a Group within the 224-byte size class: a state
// machine makes one per entry of a state with tasks, and an idle
// connection holds one for as long as it is up.
func TestGroupSize(t *testing.T) {
	if n := unsafe.Sizeof(Group{}); n > 224 {
		t.Errorf("a Group is %d bytes, over 224", n)
	}
}
