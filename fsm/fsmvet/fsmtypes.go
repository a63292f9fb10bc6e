package fsmvet

import (
	"go/ast"
	"go/types"
)

// fsmPath is the import path of the engine whose tables are checked.
const fsmPath = "github.com/connfsm/connfsm/fsm"

// fsmNamed reports whether t is the engine's generic type name instantiated
// with two type arguments, and returns them.
func fsmNamed(t types.Type, name string) (s, e types.Type, ok bool) {
	n, isNamed := types.Unalias(t).(*types.Named)
	if !isNamed {
		return nil, nil, false
	}
	obj := n.Obj()
	if obj.Pkg() == nil || obj.Pkg().Path() != fsmPath || obj.Name() != name {
		return nil, nil, false
	}
	args := n.TypeArgs()
	if args.Len() != 2 {
		return nil, nil, false
	}
	return args.At(0), args.At(1), true
}

// outcomeOf reports whether t is fsm.Outcome[s].
func outcomeOf(t types.Type, s types.Type) bool {
	n, isNamed := types.Unalias(t).(*types.Named)
	if !isNamed {
		return false
	}
	obj := n.Obj()
	if obj.Pkg() == nil || obj.Pkg().Path() != fsmPath || obj.Name() != "Outcome" {
		return false
	}
	return n.TypeArgs().Len() == 1 && types.Identical(n.TypeArgs().At(0), s)
}

// ruleSlice reports whether t is []fsm.Rule[S, E] and returns S and E.
func ruleSlice(t types.Type) (s, e types.Type, ok bool) {
	sl, isSlice := types.Unalias(t).(*types.Slice)
	if !isSlice {
		return nil, nil, false
	}
	return fsmNamed(sl.Elem(), "Rule")
}

// builderPtr reports whether t is *fsm.Builder[S, E] and returns S and E.
func builderPtr(t types.Type) (s, e types.Type, ok bool) {
	p, isPtr := types.Unalias(t).(*types.Pointer)
	if !isPtr {
		return nil, nil, false
	}
	return fsmNamed(p.Elem(), "Builder")
}

// builderMethod reports whether call is a method call on a *fsm.Builder
// and returns the receiver expression and the method's name.
func builderMethod(info *types.Info, call *ast.CallExpr) (recv ast.Expr, name string, ok bool) {
	sel, isSel := ast.Unparen(call.Fun).(*ast.SelectorExpr)
	if !isSel {
		return nil, "", false
	}
	selection := info.Selections[sel]
	if selection == nil || selection.Kind() != types.MethodVal {
		return nil, "", false
	}
	if _, _, isBuilder := builderPtr(info.TypeOf(sel.X)); !isBuilder {
		return nil, "", false
	}
	return sel.X, sel.Sel.Name, true
}

// isNewBuilder reports whether call calls fsm.NewBuilder.
func isNewBuilder(info *types.Info, call *ast.CallExpr) bool {
	return isFsmFunc(info, call, "NewBuilder")
}

// fsmCall reports whether expr is a call of the engine's function name,
// and returns the call.
func fsmCall(info *types.Info, expr ast.Expr, name string) (*ast.CallExpr, bool) {
	if expr == nil {
		return nil, false
	}
	call, ok := ast.Unparen(expr).(*ast.CallExpr)
	if !ok || !isFsmFunc(info, call, name) {
		return nil, false
	}
	return call, true
}

// isFsmFunc reports whether call calls the engine's function name, with or
// without explicit type arguments.
func isFsmFunc(info *types.Info, call *ast.CallExpr, name string) bool {
	fun := ast.Unparen(call.Fun)
	switch f := fun.(type) {
	case *ast.IndexExpr:
		fun = f.X
	case *ast.IndexListExpr:
		fun = f.X
	}
	var id *ast.Ident
	switch f := ast.Unparen(fun).(type) {
	case *ast.Ident:
		id = f
	case *ast.SelectorExpr:
		id = f.Sel
	default:
		return false
	}
	fn, isFunc := info.Uses[id].(*types.Func)
	return isFunc && fn.Pkg() != nil && fn.Pkg().Path() == fsmPath && fn.Name() == name
}
