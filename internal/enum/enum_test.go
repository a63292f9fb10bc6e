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

func TestList(t *testing.T) {
	l := NewList[kind]("kind(%d)", "zero", "one", "two")
	if diff := cmp.Diff([]kind{0, 1, 2}, l.Values()); diff != "" {
		t.Errorf("Values (-want +got):\n%s", diff)
	}
	if l.Len() != 3 {
		t.Errorf("Len = %d, want 3", l.Len())
	}
	got := []string{l.Name(0), l.Name(2), l.Name(3)}
	if diff := cmp.Diff([]string{"zero", "two", "kind(3)"}, got); diff != "" {
		t.Errorf("Name (-want +got):\n%s", diff)
	}
	v := l.Values()
	v[0] = 9
	if diff := cmp.Diff([]kind{0, 1, 2}, l.Values()); diff != "" {
		t.Errorf("Values after the caller changed its copy (-want +got):\n%s", diff)
	}
	for _, tt := range []struct {
		name string
		v    kind
		ok   bool
	}{{"zero", 0, true}, {"two", 2, true}, {"kind(3)", 0, false}, {"", 0, false}} {
		v, ok := l.Parse(tt.name)
		if v != tt.v || ok != tt.ok {
			t.Errorf("Parse(%q) = %v, %v; want %v, %v", tt.name, v, ok, tt.v, tt.ok)
		}
	}
	if got := NewList[kind]("kind(%d)").Values(); len(got) != 0 {
		t.Errorf("empty list: Values = %v, want none", got)
	}
}
