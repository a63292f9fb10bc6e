// Package enum names the values of the module's small enumerations.
package enum

import "fmt"

// Name returns names[v], or fallback formatted with v's number when v has
// no name there. names is indexed by value, as
// [...]string{Text: "text", Binary: "binary"} declares it; fallback is a
// format such as "MessageType(%d)".
func Name[T ~uint8 | ~int](names []string, v T, fallback string) string {
	if v >= 0 && int(v) < len(names) && names[v] != "" {
		return names[v]
	}
	return fmt.Sprintf(fallback, int(v))
}

// List is a dense enumeration: its values are 0 to n-1, value i named
// names[i]. One list gives both the values in order and their names, so
// the two cannot drift apart.
type List[T ~uint8] struct {
	names    []string
	fallback string
}

// NewList returns the enumeration whose value i is named names[i];
// fallback formats a value beyond them, as for Name.
func NewList[T ~uint8](fallback string, names ...string) List[T] {
	return List[T]{names: names, fallback: fallback}
}

// Values returns the values, 0 to n-1, in a new slice each call.
func (l List[T]) Values() []T {
	out := make([]T, len(l.names))
	for i := range out {
		out[i] = T(i)
	}
	return out
}

// Len returns how many values there are.
func (l List[T]) Len() int { return len(l.names) }

// Name returns v's name, or fallback formatted with v's number.
func (l List[T]) Name(v T) string { return Name(l.names, v, l.fallback) }

// Parse returns the value Name names name, and whether there is one.
func (l List[T]) Parse(name string) (T, bool) {
	for i, n := range l.names {
		if n == name {
			return T(i), true
		}
	}
	return 0, false
}
