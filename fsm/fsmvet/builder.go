package fsmvet

import (
	"go/ast"
	"go/types"
)

// builders follows *fsm.Builder values through one package so that every
// Rules, States, Events and Children call on one builder is seen together.
// A builder is followed from its fsm.NewBuilder call along method chains
// and through local variables. A builder that escapes what this can follow
// (returned, passed to a function, stored in a field or a package-level
// variable, taken from a parameter) is tainted: its calls may be only part
// of its table, so its table is not checked.
type builders struct {
	info    *types.Info
	parent  map[any]any  // union-find over builder keys
	tainted map[any]bool // keys whose builder escapes
	inited  map[*types.Var]bool
	vars    map[*types.Var]bool
	calls   []builderCall // every method call on a builder, in source order
}

// A builderCall is one method call on a builder.
type builderCall struct {
	call *ast.CallExpr
	sel  *ast.SelectorExpr
	name string
	key  any // the builder's key before union
	s, e types.Type
}

func newBuilders(info *types.Info) *builders {
	return &builders{
		info:    info,
		parent:  make(map[any]any),
		tainted: make(map[any]bool),
		inited:  make(map[*types.Var]bool),
		vars:    make(map[*types.Var]bool),
	}
}

func (b *builders) find(k any) any {
	for {
		p, ok := b.parent[k]
		if !ok || p == k {
			return k
		}
		if gp, ok := b.parent[p]; ok {
			b.parent[k] = gp
		}
		k = p
	}
}

func (b *builders) union(x, y any) {
	rx, ry := b.find(x), b.find(y)
	if rx != ry {
		b.parent[rx] = ry
	}
}

// keyOf returns the key of the builder expr evaluates to: its
// fsm.NewBuilder call, or the local variable holding it. Any other origin
// gets a tainted key of its own.
func (b *builders) keyOf(expr ast.Expr) any {
	expr = ast.Unparen(expr)
	switch x := expr.(type) {
	case *ast.Ident:
		if v, ok := b.info.Uses[x].(*types.Var); ok {
			b.vars[v] = true
			return v
		}
	case *ast.CallExpr:
		if isNewBuilder(b.info, x) {
			return x
		}
		if recv, _, ok := builderMethod(b.info, x); ok {
			return b.keyOf(recv)
		}
	}
	b.tainted[expr] = true
	return expr
}

// visit looks at one node with its ancestors (innermost last) and records
// what it learns about builders.
func (b *builders) visit(n ast.Node, stack []ast.Node) {
	if call, ok := n.(*ast.CallExpr); ok {
		if recv, name, isMethod := builderMethod(b.info, call); isMethod {
			s, e, _ := builderPtr(b.info.TypeOf(recv))
			b.calls = append(b.calls, builderCall{
				call: call, sel: ast.Unparen(call.Fun).(*ast.SelectorExpr), name: name,
				key: b.keyOf(recv), s: s, e: e,
			})
		}
	}
	expr, ok := n.(ast.Expr)
	if !ok {
		return
	}
	if _, isParen := expr.(*ast.ParenExpr); isParen {
		return
	}
	if id, isIdent := expr.(*ast.Ident); isIdent && b.info.Defs[id] != nil {
		return
	}
	if _, _, isBuilder := builderPtr(b.info.TypeOf(expr)); !isBuilder {
		return
	}
	// Find the context, looking through parentheses.
	var child ast.Node = expr
	i := len(stack) - 1
	for i >= 0 {
		if _, isParen := stack[i].(*ast.ParenExpr); !isParen {
			break
		}
		child = stack[i]
		i--
	}
	if i < 0 {
		return
	}
	switch p := stack[i].(type) {
	case *ast.SelectorExpr:
		if p.X == child && i > 0 {
			if call, isCall := stack[i-1].(*ast.CallExpr); isCall && call.Fun == p {
				return // the receiver of a method call: followed by keyOf
			}
		}
	case *ast.ExprStmt:
		return
	case *ast.AssignStmt:
		for _, lhs := range p.Lhs {
			if lhs == child {
				return // assigned to: the right-hand side says from what
			}
		}
		if len(p.Lhs) == len(p.Rhs) {
			for j, rhs := range p.Rhs {
				if rhs == child {
					b.assign(p.Lhs[j], expr)
					return
				}
			}
		}
	case *ast.ValueSpec:
		if len(p.Names) == len(p.Values) {
			for j, v := range p.Values {
				if v == child {
					b.assign(p.Names[j], expr)
					return
				}
			}
		}
	}
	b.tainted[b.keyOf(expr)] = true
}

// assign records that the builder expr is stored in lhs.
func (b *builders) assign(lhs, expr ast.Expr) {
	id, ok := ast.Unparen(lhs).(*ast.Ident)
	if !ok {
		b.tainted[b.keyOf(expr)] = true
		return
	}
	if id.Name == "_" {
		return
	}
	obj := b.info.Defs[id]
	if obj == nil {
		obj = b.info.Uses[id]
	}
	v, isVar := obj.(*types.Var)
	if !isVar || v.Pkg() == nil || v.Parent() == nil || v.Parent() == v.Pkg().Scope() {
		b.tainted[b.keyOf(expr)] = true
		return
	}
	b.vars[v] = true
	b.inited[v] = true
	b.union(b.keyOf(expr), v)
}

// groups returns the method calls of each builder whose table can be seen
// whole, in source order.
func (b *builders) groups() [][]builderCall {
	for v := range b.vars {
		if !b.inited[v] {
			b.tainted[v] = true // a parameter, or declared without a builder
		}
	}
	bad := make(map[any]bool)
	for k := range b.tainted {
		bad[b.find(k)] = true
	}
	var order []any
	byRoot := make(map[any][]builderCall)
	for _, c := range b.calls {
		r := b.find(c.key)
		if bad[r] {
			continue
		}
		if _, seen := byRoot[r]; !seen {
			order = append(order, r)
		}
		byRoot[r] = append(byRoot[r], c)
	}
	out := make([][]builderCall, 0, len(order))
	for _, r := range order {
		out = append(out, byRoot[r])
	}
	return out
}
