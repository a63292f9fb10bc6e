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
