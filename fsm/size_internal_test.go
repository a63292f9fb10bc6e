package fsm

import (
	"testing"
	"unsafe"
)

// TestSizes keeps what every machine and entry allocates within the size
// classes they were brought to: a field added to one of them moves a
// client's idle cost per connection up a class (see docs/benchmarks.md,
// idle memory).
func TestSizes(t *testing.T) {
	type (
		s = uint8
		e = uint8
	)
	tests := []struct {
		name     string
		size, at uintptr // at most at: the top of the size class
	}{
		{"Machine", unsafe.Sizeof(Machine[s, e]{}), 208},
		{"level", unsafe.Sizeof(level{}), 32},
		{"machineExt", unsafe.Sizeof(machineExt{}), 128},
		{"watch", unsafe.Sizeof(watch{}), 64},
		{"scopeBlock of one task", unsafe.Sizeof(scopeBlock[s, e, [1]scopeTask[s, e]]{}), 176},
		{"scopeBlock of two tasks", unsafe.Sizeof(scopeBlock[s, e, [2]scopeTask[s, e]]{}), 208},
	}
	for _, tt := range tests {
		if tt.size > tt.at {
			t.Errorf("%s is %d bytes, over %d", tt.name, tt.size, tt.at)
		}
	}
}
