package fsmvet

import (
	"go/ast"
	"go/constant"
	"go/token"
	"go/types"
)

// A table is a set of rules checked as a whole: one slice literal, or
// every Rules call on one builder.
type table struct {
	pos    token.Pos // where a missing pair is reported
	s, e   types.Type
	rows   []row
	states []constant.Value // from States calls; nil means every constant of S
	events []constant.Value // from Events calls; nil means every constant of E
}

// A row is one rule's (state, event) pair, and what fsmvet knows of its
// outcome.
type row struct {
	pos      token.Pos
	from, on constant.Value
	// internal is set when the outcome is an fsm.Internal call; target is
	// then its argument, or nil when that is not a constant.
	internal bool
	target   constant.Value
}

// rowShape says how to find the state, the event and the outcome in a row
// literal: by field name when the literal is keyed, else the first two
// positions and the outcome's (thenAt < 0: the row type has no outcome).
type rowShape struct {
	from, on, then string
	thenAt         int
}

var ruleShape = rowShape{from: "From", on: "On", then: "Then", thenAt: 2}

// rowsOf returns the pairs of a slice literal whose elements have shape,
// or false when an element is not a literal naming a constant state and a
// constant event.
func rowsOf(info *types.Info, lit *ast.CompositeLit, shape rowShape) ([]row, bool) {
	rows := make([]row, 0, len(lit.Elts))
	for _, elt := range lit.Elts {
		if kv, ok := elt.(*ast.KeyValueExpr); ok { // [...]T{0: {...}}
			elt = kv.Value
		}
		r, ok := rowOf(info, elt, shape)
		if !ok {
			return nil, false
		}
		rows = append(rows, r)
	}
	return rows, true
}

// rowOf returns the pair of one row literal, or false when elt is not a
// literal or its state or event is not a constant.
func rowOf(info *types.Info, elt ast.Expr, shape rowShape) (row, bool) {
	lit, ok := ast.Unparen(elt).(*ast.CompositeLit)
	if !ok {
		return row{}, false
	}
	var from, on, then ast.Expr
	for i, el := range lit.Elts {
		kv, keyed := el.(*ast.KeyValueExpr)
		if !keyed {
			switch i {
			case 0:
				from = el
			case 1:
				on = el
			case shape.thenAt:
				then = el
			}
			continue
		}
		id, isIdent := kv.Key.(*ast.Ident)
		if !isIdent {
			return row{}, false
		}
		switch id.Name {
		case shape.from:
			from = kv.Value
		case shape.on:
			on = kv.Value
		case shape.then:
			if shape.then != "" {
				then = kv.Value
			}
		}
	}
	if from == nil || on == nil {
		return row{}, false
	}
	fv, ev := info.Types[from].Value, info.Types[on].Value
	if fv == nil || ev == nil {
		return row{}, false
	}
	r := row{pos: lit.Pos(), from: fv, on: ev}
	if call, ok := fsmCall(info, then, "Internal"); ok && len(call.Args) == 1 {
		r.internal, r.target = true, info.Types[call.Args[0]].Value
	}
	return r, true
}

// rowLiteral reports whether lit is a slice literal of a local row type
// whose first two fields have types s and e (the transitions.go pattern),
// and returns its shape; its outcome is its first field of type
// fsm.Outcome[S], if any.
func rowLiteral(info *types.Info, lit *ast.CompositeLit, s, e types.Type) (rowShape, bool) {
	sl, ok := types.Unalias(info.TypeOf(lit)).(*types.Slice)
	if !ok {
		return rowShape{}, false
	}
	st, ok := sl.Elem().Underlying().(*types.Struct)
	if !ok || st.NumFields() < 2 {
		return rowShape{}, false
	}
	f0, f1 := st.Field(0), st.Field(1)
	if !types.Identical(f0.Type(), s) || !types.Identical(f1.Type(), e) {
		return rowShape{}, false
	}
	shape := rowShape{from: f0.Name(), on: f1.Name(), thenAt: -1}
	for i := 2; i < st.NumFields(); i++ {
		if outcomeOf(st.Field(i).Type(), s) {
			shape.then, shape.thenAt = st.Field(i).Name(), i
			break
		}
	}
	return shape, true
}

// source is a slice expression that yields a whole table: a []fsm.Rule
// literal, or a call returning []fsm.Rule whose argument is a row-type
// literal.
type source struct {
	expr  ast.Expr          // the literal, or the converting call
	lit   *ast.CompositeLit // the literal holding the rows
	shape rowShape
	s, e  types.Type
}

// sourceOf reports whether expr is a table source.
func sourceOf(info *types.Info, expr ast.Expr) (source, bool) {
	expr = ast.Unparen(expr)
	switch x := expr.(type) {
	case *ast.CompositeLit:
		if s, e, ok := ruleSlice(info.TypeOf(x)); ok {
			return source{expr: x, lit: x, shape: ruleShape, s: s, e: e}, true
		}
	case *ast.CallExpr:
		if tv := info.Types[x.Fun]; tv.IsType() || tv.IsBuiltin() {
			return source{}, false
		}
		s, e, ok := ruleSlice(info.TypeOf(x))
		if !ok {
			return source{}, false
		}
		for _, arg := range x.Args {
			lit, isLit := ast.Unparen(arg).(*ast.CompositeLit)
			if !isLit {
				continue
			}
			if _, _, isRules := ruleSlice(info.TypeOf(lit)); isRules {
				continue // a []fsm.Rule literal is a source of its own
			}
			if shape, isRows := rowLiteral(info, lit, s, e); isRows {
				return source{expr: x, lit: lit, shape: shape, s: s, e: e}, true
			}
		}
	}
	return source{}, false
}
