package enum

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

type kind uint8

type code int

var kindNames = [...]string{1: "one", 3: "three"}

func TestName(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"named", Name(kindNames[:], kind(1), "kind(%d)"), "one"},
		{"last", Name(kindNames[:], kind(3), "kind(%d)"), "three"},
		{"gap", Name(kindNames[:], kind(2), "kind(%d)"), "kind(2)"},
		{"zero unnamed", Name(kindNames[:], kind(0), "kind(%d)"), "kind(0)"},
		{"beyond", Name(kindNames[:], kind(200), "kind(%d)"), "kind(200)"},
		{"hex", Name(kindNames[:], kind(10), "kind(%#x)"), "kind(0xa)"},
		{"negative", Name(kindNames[:], code(-1), "code(%d)"), "code(-1)"},
		{"no names", Name(nil, code(1), "code(%d)"), "code(1)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.got); diff != "" {
				t.Errorf("Name (-want +got):\n%s", diff)
			}
		})
	}
}
