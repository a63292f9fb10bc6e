package fsmvet

import (
	"go/ast"
	"go/constant"
	"go/token"
	"go/types"
	"slices"
	"strings"

	"golang.org/x/tools/go/analysis"
)

// Analyzer reports missing and duplicate (state, event) pairs in the rule
// tables of a package. See the package documentation for what it checks
// and what it cannot see.
var Analyzer = &analysis.Analyzer{
	Name: "fsmvet",
	Doc:  "check that fsm rule tables declare every (state, event) pair exactly once",
	URL:  "https://pkg.go.dev/github.com/connfsm/connfsm/fsm/fsmvet",
	Run:  run,
}

// ignoreDirective, on the line of a table or the line above it, turns the
// check of that table off.
const ignoreDirective = "//fsmvet:ignore"

func run(pass *analysis.Pass) (any, error) {
	info := pass.TypesInfo
	bs := newBuilders(info)
	var hs hierarchies
	var sources []source
	ignored := make(map[string]map[int]bool)

	for _, f := range pass.Files {
		name := pass.Fset.File(f.Pos()).Name()
		if strings.HasSuffix(name, "_test.go") {
			continue // tests build partial and broken tables on purpose
		}
		ignored[name] = directiveLines(pass.Fset, f)
		var stack []ast.Node
		ast.Inspect(f, func(n ast.Node) bool {
			if n == nil {
				stack = stack[:len(stack)-1]
				return true
			}
			bs.visit(n, stack)
			if expr, ok := n.(ast.Expr); ok {
				if src, isSource := sourceOf(info, expr); isSource {
					sources = append(sources, src)
				}
			}
			if call, ok := n.(*ast.CallExpr); ok {
				if recv, method, isMethod := builderMethod(info, call); isMethod {
					s, _, _ := builderPtr(info.TypeOf(recv))
					switch method {
					case "Children":
						children(info, call, hs.of(s))
					case "Final":
						finals(info, call, hs.of(s))
					case "Parallel":
						parallels(info, call, hs.of(s))
					case "History":
						histories(info, call, hs.of(s))
					case "PostponeLimit":
						postponeLimit(pass, call)
					}
				}
			}
			stack = append(stack, n)
			return true
		})
	}

	isIgnored := func(pos token.Pos) bool {
		p := pass.Fset.PositionFor(pos, false)
		lines := ignored[p.Filename]
		return lines[p.Line] || lines[p.Line-1]
	}
	// A literal spread into a Rules call of a builder followed to its end is
	// part of that builder's table; any other literal is a table of its own.
	groups := bs.groups()
	consumed := make(map[ast.Expr]bool)
	for _, calls := range groups {
		for _, c := range calls {
			if c.name == "Rules" && c.call.Ellipsis.IsValid() && len(c.call.Args) == 1 {
				consumed[ast.Unparen(c.call.Args[0])] = true
			}
		}
	}
	for _, src := range sources {
		if consumed[src.expr] || isIgnored(src.lit.Pos()) {
			continue
		}
		if len(src.lit.Elts) == 0 {
			continue // declares no rule: the start of a table built at run time
		}
		rows, ok := rowsOf(info, src.lit, src.shape)
		if !ok {
			continue
		}
		checkTable(pass, &hs, &table{pos: src.lit.Pos(), s: src.s, e: src.e, rows: rows})
	}
	for _, calls := range groups {
		t, ok := builderTable(info, calls)
		if !ok || isIgnored(t.pos) {
			continue
		}
		checkTable(pass, &hs, t)
	}
	return nil, nil
}

// checkTable checks t unless its state type's nesting or final states are
// unknown.
func checkTable(pass *analysis.Pass, hs *hierarchies, t *table) {
	h := hs.of(t.s)
	if h.unknown {
		return
	}
	check(pass, t, h)
}

// children records a Children(parent, children...) call in h, or marks h
// unknown when an argument is not a constant.
func children(info *types.Info, call *ast.CallExpr, h *hierarchy) {
	headed(info, call, h, h.add)
}

// parallels records a Parallel(state, regions...) call in h, or marks h
// unknown when an argument is not a constant.
func parallels(info *types.Info, call *ast.CallExpr, h *hierarchy) {
	headed(info, call, h, h.addParallel)
}

// headed hands a call's first argument and the rest to record, or marks h
// unknown when an argument is not a constant or is spread from a slice.
func headed(info *types.Info, call *ast.CallExpr, h *hierarchy, record func(head constant.Value, rest []constant.Value)) {
	if call.Ellipsis.IsValid() || len(call.Args) == 0 {
		h.unknown = true
		return
	}
	vals, ok := constants(info, call.Args)
	if !ok {
		h.unknown = true
		return
	}
	record(vals[0], vals[1:])
}

// finals records a Final(states...) call in h, or marks h unknown when an
// argument is not a constant.
func finals(info *types.Info, call *ast.CallExpr, h *hierarchy) {
	vals, ok := constants(info, call.Args)
	if !ok || call.Ellipsis.IsValid() {
		h.unknown = true
		return
	}
	for _, v := range vals {
		h.finals[key(v)] = true
	}
}

// histories records a History(composite, kind, state) call in h, or marks
// h unknown when the composite or the history state is not a constant.
func histories(info *types.Info, call *ast.CallExpr, h *hierarchy) {
	if len(call.Args) != 3 {
		h.unknown = true
		return
	}
	vals, ok := constants(info, []ast.Expr{call.Args[0], call.Args[2]})
	if !ok {
		h.unknown = true
		return
	}
	h.addHistory(vals[1], vals[0])
}

// postponeLimit reports a PostponeLimit call whose argument is a negative
// constant: Build refuses it.
func postponeLimit(pass *analysis.Pass, call *ast.CallExpr) {
	if len(call.Args) != 1 {
		return
	}
	v := pass.TypesInfo.Types[call.Args[0]].Value
	if v == nil || v.Kind() != constant.Int || constant.Sign(v) >= 0 {
		return
	}
	pass.Reportf(call.Args[0].Pos(), "postpone limit %s is negative", v.ExactString())
}

// constants returns the constant values of args, or false when one is not
// a constant.
func constants(info *types.Info, args []ast.Expr) ([]constant.Value, bool) {
	out := make([]constant.Value, 0, len(args))
	for _, a := range args {
		v := info.Types[a].Value
		if v == nil {
			return nil, false
		}
		out = append(out, v)
	}
	return out, true
}

// builderTable returns the table of one builder's calls, or false when it
// has no Rules call or one of them is not made of constant rows. States
// and Events calls with constant arguments name the sets the table must
// cover; with any other argument, every constant of the type counts.
func builderTable(info *types.Info, calls []builderCall) (*table, bool) {
	slices.SortFunc(calls, func(a, b builderCall) int { return int(a.sel.Sel.Pos() - b.sel.Sel.Pos()) })
	t := &table{}
	var states, events [][]constant.Value
	statesKnown, eventsKnown := true, true
	for _, c := range calls {
		switch c.name {
		case "Rules":
			if t.pos == token.NoPos {
				t.pos, t.s, t.e = c.sel.Sel.Pos(), c.s, c.e
			}
			rows, ok := ruleArgs(info, c.call)
			if !ok {
				return nil, false
			}
			t.rows = append(t.rows, rows...)
		case "States":
			vals, ok := constants(info, c.call.Args)
			statesKnown = statesKnown && ok && !c.call.Ellipsis.IsValid()
			states = append(states, vals)
		case "Events":
			vals, ok := constants(info, c.call.Args)
			eventsKnown = eventsKnown && ok && !c.call.Ellipsis.IsValid()
			events = append(events, vals)
		}
	}
	if t.pos == token.NoPos {
		return nil, false
	}
	if statesKnown && len(states) > 0 {
		t.states = slices.Concat(states...)
	}
	if eventsKnown && len(events) > 0 {
		t.events = slices.Concat(events...)
	}
	return t, true
}

// ruleArgs returns the rows of one Rules call: rule literals, or one table
// source spread with "...".
func ruleArgs(info *types.Info, call *ast.CallExpr) ([]row, bool) {
	if call.Ellipsis.IsValid() {
		if len(call.Args) != 1 {
			return nil, false
		}
		src, ok := sourceOf(info, call.Args[0])
		if !ok {
			return nil, false
		}
		return rowsOf(info, src.lit, src.shape)
	}
	rows := make([]row, 0, len(call.Args))
	for _, a := range call.Args {
		r, ok := rowOf(info, a, ruleShape)
		if !ok {
			return nil, false
		}
		rows = append(rows, r)
	}
	return rows, true
}

// directiveLines returns the lines of f that hold the ignore directive.
func directiveLines(fset *token.FileSet, f *ast.File) map[int]bool {
	var lines map[int]bool
	for _, g := range f.Comments {
		for _, c := range g.List {
			if strings.HasPrefix(c.Text, ignoreDirective) {
				if lines == nil {
					lines = make(map[int]bool)
				}
				lines[fset.PositionFor(c.Slash, false).Line] = true
			}
		}
	}
	return lines
}
