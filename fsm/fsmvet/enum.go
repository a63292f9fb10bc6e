package fsmvet

import (
	"fmt"
	"go/constant"
	"go/types"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// enum is the set of constants of a named type: a machine's states or
// events, as far as a table can name them.
type enum struct {
	typ     *types.Named
	members []constant.Value  // distinct values, in declaration order
	names   map[string]string // key(value) → the first constant's name
}

// enumOf returns the constants of t declared at package level in t's
// package, in declaration order, one per distinct value. Seen from another
// package only the exported ones count: a table there cannot name the
// rest. A constant whose name starts with "_" or is a count such as
// numStates ("num" or "Num" then an upper-case letter) is not a member. It
// reports false when t is not a named type or has no such constant.
func enumOf(t types.Type, from *types.Package) (*enum, bool) {
	named, ok := types.Unalias(t).(*types.Named)
	if !ok || named.Obj().Pkg() == nil || named.TypeParams().Len() > 0 {
		return nil, false
	}
	pkg := named.Obj().Pkg()
	scope := pkg.Scope()
	var consts []*types.Const
	for _, name := range scope.Names() {
		c, isConst := scope.Lookup(name).(*types.Const)
		if !isConst || !types.Identical(c.Type(), named) || excluded(name) {
			continue
		}
		if pkg != from && !c.Exported() {
			continue
		}
		consts = append(consts, c)
	}
	slices.SortStableFunc(consts, func(a, b *types.Const) int { return int(a.Pos() - b.Pos()) })
	en := &enum{typ: named, names: make(map[string]string)}
	for _, c := range consts {
		k := key(c.Val())
		if _, dup := en.names[k]; dup {
			continue
		}
		en.names[k] = c.Name()
		en.members = append(en.members, c.Val())
	}
	return en, len(en.members) > 0
}

// excluded reports whether a constant named name is left out of its type's
// set: a name starting with "_", or a count such as numStates or NumEvents.
func excluded(name string) bool {
	if strings.HasPrefix(name, "_") {
		return true
	}
	for _, prefix := range []string{"num", "Num"} {
		rest, ok := strings.CutPrefix(name, prefix)
		if !ok {
			continue
		}
		r, _ := utf8.DecodeRuneInString(rest)
		if unicode.IsUpper(r) {
			return true
		}
	}
	return false
}

// name returns the name of the constant with value v, or T(v) when no
// member has it.
func (en *enum) name(v constant.Value) string {
	if n, ok := en.names[key(v)]; ok {
		return n
	}
	return fmt.Sprintf("%s(%s)", en.typ.Obj().Name(), v.ExactString())
}

// key makes a constant value usable as a map key.
func key(v constant.Value) string { return v.Kind().String() + ":" + v.ExactString() }
