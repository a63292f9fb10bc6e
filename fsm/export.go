package fsm

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
)

// This file draws a Definition: a Mermaid state diagram, a Graphviz graph
// and a Markdown transition matrix. All three list states and events in
// declaration order, so the same definition always gives the same bytes and
// generated documents can be checked for drift.
//
// Names come from fmt.Sprint and may hold any text, so every label is
// escaped for its format: a name can change a label, never the structure of
// the document around it.

// WriteMermaid writes the definition as a Mermaid stateDiagram-v2: one
// state per declared state, labelled with its name, its tasks, the event a
// failing task fires and its timeouts (a composite state holds its lines in
// its label, as Mermaid allows no description on a composite); a composite
// state block holding its children, with its initial child entered from
// [*]; the initial state entered from [*]; an edge per declared transition
// labelled with its event (and "(internal)" for an internal transition),
// drawn from the state that declares the rule; a choice pseudo-state per Choice with an edge to every target; and every
// final state, or leaf without an outgoing transition, leading to [*].
// Edges are written at the top level, after every state: Mermaid moves a
// state into the last block whose statements name it. Ignored and rejected
// pairs are not drawn; WriteMatrix shows them.
func (d *Definition[S, E]) WriteMermaid(w io.Writer) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("stateDiagram-v2\n")
	d.mermaidStates(bw, -1, "    ")
	fmt.Fprintf(bw, "    [*] --> s%d\n", d.initial)
	d.eachRule(func(at, ev int, x *decl[S, E]) {
		label := mermaidLabel(d.eventNames[ev])
		if x.internal {
			label += " (internal)"
		}
		if strings.TrimSpace(label) == "" {
			label = "" // Mermaid cannot parse an edge label of spaces
		} else {
			label = " : " + label
		}
		switch x.kind {
		case KindTransition:
			fmt.Fprintf(bw, "    s%d --> %s%s\n", at, d.mermaidNode(x.to), label)
		case KindChoice:
			id := fmt.Sprintf("c%d_%d", at, ev)
			fmt.Fprintf(bw, "    state %s <<choice>>\n", id)
			fmt.Fprintf(bw, "    s%d --> %s%s\n", at, id, label)
			for _, t := range x.targets {
				fmt.Fprintf(bw, "    %s --> %s\n", id, d.mermaidNode(t))
			}
		}
	})
	for si := range d.states {
		if d.terminal(si) {
			fmt.Fprintf(bw, "    s%d --> [*]\n", si)
		}
	}
	return bw.Flush()
}

// mermaidNode names a rule's target in Mermaid: a state, or a history.
func (d *Definition[S, E]) mermaidNode(t int) string {
	if t >= len(d.states) {
		return fmt.Sprintf("h%d", t-len(d.states))
	}
	return fmt.Sprintf("s%d", t)
}

// histMark is how a diagram draws a history: [H] shallow, [H*] deep.
func histMark(k HistoryKind) string {
	if k == Deep {
		return "[H*]"
	}
	return "[H]"
}

// mermaidStates writes the states whose parent is parent, a composite as a
// block holding its children and its initial arrow.
func (d *Definition[S, E]) mermaidStates(bw *bufio.Writer, parent int, indent string) {
	first := true
	for si := range d.states {
		if d.tree[si].parent != parent {
			continue
		}
		if !first && parent >= 0 && d.tree[parent].parallel {
			fmt.Fprintf(bw, "%s--\n", indent) // Mermaid's separator of concurrent regions
		}
		first = false
		label := mermaidLabel(d.stateNames[si])
		if strings.TrimSpace(label) == "" {
			label = "#32;" // Mermaid cannot parse an empty quoted label
		}
		if kids := d.tree[si].children; len(kids) > 0 {
			for _, line := range d.notes(si) {
				label += "<br>" + mermaidLabel(line)
			}
			fmt.Fprintf(bw, "%sstate \"%s\" as s%d {\n", indent, label, si)
			for hi, h := range d.hist {
				if h.composite == si {
					fmt.Fprintf(bw, "%s    state \"%s\" as h%d\n", indent, mermaidLabel(histMark(h.kind)), hi)
				}
			}
			d.mermaidStates(bw, si, indent+"    ")
			if d.tree[si].parallel { // every region is entered: no initial arrow
				fmt.Fprintf(bw, "%s}\n", indent)
				continue
			}
			fmt.Fprintf(bw, "%s    [*] --> s%d\n", indent, kids[0])
			fmt.Fprintf(bw, "%s}\n", indent)
			continue
		}
		fmt.Fprintf(bw, "%sstate \"%s\" as s%d\n", indent, label, si)
		for _, line := range d.notes(si) {
			fmt.Fprintf(bw, "%ss%d : %s\n", indent, si, mermaidLabel(line))
		}
	}
}

// WriteDOT writes the definition as a Graphviz digraph: a box per leaf and
// a cluster per composite state, each labelled with its name, its tasks,
// the event a failing task fires and its timeouts; a point leading to the
// initial state (and, inside each cluster, to its initial child); a double
// border around every final state or leaf without an outgoing transition;
// an edge per declared transition labelled with its event, clipped at the
// border of a composite end (dashed and marked "(internal)" for an
// internal transition); and a diamond per Choice with an edge to
// every target. Ignored and rejected pairs are not drawn.
func (d *Definition[S, E]) WriteDOT(w io.Writer) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("digraph fsm {\n")
	if d.nested {
		bw.WriteString("\tcompound=true;\n")
	}
	bw.WriteString("\tnode [shape=box, style=rounded];\n")
	bw.WriteString("\tstart [shape=point, label=\"\"];\n")
	d.dotBlock(bw, -1, "\t")
	fmt.Fprintf(bw, "\tstart -> %s;\n", d.dotNode(d.initial))
	d.eachRule(func(at, ev int, x *decl[S, E]) {
		switch x.kind {
		case KindTransition:
			label, style := dotString(d.eventNames[ev]), ""
			if x.internal {
				label, style = label+" (internal)", ", style=dashed"
			}
			fmt.Fprintf(bw, "\t%s -> %s [label=\"%s\"%s%s];\n", d.dotNode(at), d.dotNode(x.to),
				label, style, d.dotClip(at, x.to))
		case KindChoice:
			id := fmt.Sprintf("c%d_%d", at, ev)
			fmt.Fprintf(bw, "\t%s [shape=diamond, label=\"\"];\n", id)
			fmt.Fprintf(bw, "\t%s -> %s [label=\"%s\"%s];\n", d.dotNode(at), id, dotString(d.eventNames[ev]), d.dotClip(at, -1))
			for _, t := range x.targets {
				fmt.Fprintf(bw, "\t%s -> %s [style=dashed%s];\n", id, d.dotNode(t), d.dotClip(-1, t))
			}
		}
	})
	bw.WriteString("}\n")
	return bw.Flush()
}

// dotBlock writes the nodes and clusters whose parent is parent.
func (d *Definition[S, E]) dotBlock(bw *bufio.Writer, parent int, indent string) {
	for si := range d.states {
		if d.tree[si].parent != parent {
			continue
		}
		label := dotString(d.stateNames[si])
		for _, line := range d.notes(si) {
			label += `\n` + dotString(line)
		}
		if kids := d.tree[si].children; len(kids) > 0 {
			fmt.Fprintf(bw, "%ssubgraph cluster_s%d {\n", indent, si)
			fmt.Fprintf(bw, "%s\tlabel=\"%s\";\n", indent, label)
			if d.tree[si].parallel {
				fmt.Fprintf(bw, "%s\tstyle=\"rounded,dashed\";\n", indent)
			} else {
				fmt.Fprintf(bw, "%s\tstyle=rounded;\n", indent)
			}
			fmt.Fprintf(bw, "%s\ts%d_start [shape=point, label=\"\"];\n", indent, si)
			d.dotBlock(bw, si, indent+"\t")
			for hi, h := range d.hist {
				if h.composite == si {
					fmt.Fprintf(bw, "%s\th%d [shape=circle, label=\"%s\"];\n", indent, hi, strings.Trim(histMark(h.kind), "[]"))
				}
			}
			if d.tree[si].parallel { // every region is entered
				for _, k := range kids {
					fmt.Fprintf(bw, "%s\ts%d_start -> %s [lhead=cluster_s%d];\n", indent, si, d.dotNode(k), k)
				}
			} else {
				fmt.Fprintf(bw, "%s\ts%d_start -> %s;\n", indent, si, d.dotNode(kids[0]))
			}
			fmt.Fprintf(bw, "%s}\n", indent)
			continue
		}
		fmt.Fprintf(bw, "%ss%d [label=\"%s\"", indent, si, label)
		if d.terminal(si) {
			bw.WriteString(", peripheries=2")
		}
		bw.WriteString("];\n")
	}
}

// dotNode names the node an edge to or from si attaches to: si itself, or
// for a composite the start point inside its cluster.
func (d *Definition[S, E]) dotNode(si int) string {
	if si >= len(d.states) {
		return fmt.Sprintf("h%d", si-len(d.states))
	}
	if len(d.tree[si].children) > 0 {
		return fmt.Sprintf("s%d_start", si)
	}
	return fmt.Sprintf("s%d", si)
}

// dotClip returns the attributes that clip an edge at the clusters of its
// composite ends (-1 for a node that is not a state).
func (d *Definition[S, E]) dotClip(from, to int) string {
	var b strings.Builder
	hist := to >= len(d.states) // its node is inside its composite's cluster
	if hist {
		to = d.hist[to-len(d.states)].composite
	}
	if from >= 0 && len(d.tree[from].children) > 0 && !(to >= 0 && d.ancestorOrSelf(from, to)) {
		fmt.Fprintf(&b, ", ltail=cluster_s%d", from)
	}
	if !hist && to >= 0 && len(d.tree[to].children) > 0 && !(from >= 0 && d.ancestorOrSelf(to, from)) {
		fmt.Fprintf(&b, ", lhead=cluster_s%d", to)
	}
	return b.String()
}

// WriteMatrix writes the definition's full table as a Markdown (GitHub
// flavoured) table: a row per leaf that is not final (named by its path,
// "Alive/Syncing"), a column per event, and in each cell the rule that
// applies with its reason: "→ Target: reason" for a transition ("→ Target
// (internal): reason" for an internal one), "→ A or B
// (choice): reason", "ignore: reason", "reject: reason" or "postpone:
// reason" (reason optional) otherwise. A rule
// a leaf inherits says "(from Parent)"; a leaf's own rule that refines an
// ancestor's says "(overrides Parent)". Final states are listed after the
// table. If any state has tasks or timeouts, a second table follows, after
// a blank line: a row per state with its tasks, the event a failing task
// fires and, if any state has one, its timeouts.
func (d *Definition[S, E]) WriteMatrix(w io.Writer) error {
	bw := bufio.NewWriter(w)
	bw.WriteString(`| state \ event |`)
	for _, name := range d.eventNames {
		fmt.Fprintf(bw, " %s |", markdownCell(name))
	}
	bw.WriteString("\n|---|")
	for range d.events {
		bw.WriteString("---|")
	}
	bw.WriteByte('\n')
	nE := len(d.events)
	var finals []string
	for si := range d.states {
		if len(d.tree[si].children) > 0 {
			continue
		}
		if d.tree[si].final {
			finals = append(finals, d.pathName(si))
			continue
		}
		fmt.Fprintf(bw, "| %s |", markdownCell(d.pathName(si)))
		for ei := range d.events {
			fmt.Fprintf(bw, " %s |", markdownCell(d.cellText(si, ei, &d.cells[si*nE+ei])))
		}
		bw.WriteByte('\n')
	}
	if len(finals) > 0 {
		fmt.Fprintf(bw, "\nFinal: %s (entering a final state stops the machine; no event is processed in it).\n",
			markdownCell(strings.Join(finals, ", ")))
	}
	for si := range d.states {
		if d.tree[si].parallel {
			var regions []string
			for _, r := range d.tree[si].children {
				regions = append(regions, d.stateNames[r])
			}
			fmt.Fprintf(bw, "\nParallel: %s has the regions %s, all active at once: an event is offered to the leaf of each (one row per region leaf).\n",
				markdownCell(d.pathName(si)), markdownCell(strings.Join(regions, ", ")))
		}
	}
	d.writeTaskTable(bw)
	return bw.Flush()
}

// cellText is a matrix cell: the outcome, where it comes from, the reason.
func (d *Definition[S, E]) cellText(si, ei int, c *cell[S, E]) string {
	var text string
	switch c.kind {
	case KindTransition:
		text = "→ " + d.targetText(c.plan.to)
		if c.internal {
			text += " (internal)"
		}
	case KindChoice:
		names := make([]string, len(c.branches))
		for i, b := range c.branches {
			names[i] = d.targetText(b.to)
		}
		text = "→ " + strings.Join(names, " or ") + " (choice)"
	default:
		text = c.kind.String()
	}
	if c.at != si {
		text += " (from " + d.stateNames[c.at] + ")"
	} else if p := d.tree[si].parent; p >= 0 && d.cells[p*len(d.events)+ei].kind != 0 {
		text += " (overrides " + d.stateNames[d.cells[p*len(d.events)+ei].at] + ")"
	}
	if c.reason != "" {
		text += ": " + c.reason
	}
	return text
}

// targetText names a rule's target in the matrix: a state, or a history
// as "Working (history)" ("(deep history)").
func (d *Definition[S, E]) targetText(t int) string {
	if t < len(d.states) {
		return d.stateNames[t]
	}
	h := d.hist[t-len(d.states)]
	if h.kind == Deep {
		return d.stateNames[h.composite] + " (deep history)"
	}
	return d.stateNames[h.composite] + " (history)"
}

// pathName names a state by its path from the top level: "Alive/Syncing".
func (d *Definition[S, E]) pathName(si int) string {
	name := d.stateNames[si]
	for p := d.tree[si].parent; p >= 0; p = d.tree[p].parent {
		name = d.stateNames[p] + "/" + name
	}
	return name
}

// writeTaskTable writes WriteMatrix's second table, if any state has tasks
// or timeouts.
func (d *Definition[S, E]) writeTaskTable(bw *bufio.Writer) {
	hasTasks := slices.ContainsFunc(d.per, func(p stateDef[S, E]) bool { return len(p.tasks) > 0 })
	hasTimeouts := slices.ContainsFunc(d.per, func(p stateDef[S, E]) bool { return len(p.timeouts) > 0 })
	if !hasTasks && !hasTimeouts {
		return
	}
	if hasTimeouts {
		bw.WriteString("\n| state | tasks | a failing task fires | timeouts |\n|---|---|---|---|\n")
	} else {
		bw.WriteString("\n| state | tasks | a failing task fires |\n|---|---|---|\n")
	}
	for si, p := range d.per {
		tasks, fail := "none", "–"
		if len(p.tasks) > 0 {
			tasks = strings.Join(d.taskNames(si), ", ")
			if p.fail >= 0 {
				fail = d.failText(si)
			}
		}
		fmt.Fprintf(bw, "| %s | %s | %s |", markdownCell(d.pathName(si)), markdownCell(tasks), markdownCell(fail))
		if hasTimeouts {
			tos := "none"
			if len(p.timeouts) > 0 {
				tos = strings.Join(d.timeoutTexts(si), ", ")
			}
			fmt.Fprintf(bw, " %s |", markdownCell(tos))
		}
		bw.WriteByte('\n')
	}
}

func (d *Definition[S, E]) taskNames(si int) []string {
	names := make([]string, len(d.per[si].tasks))
	for i, t := range d.per[si].tasks {
		names[i] = t.name
	}
	return names
}

// failText is the event a failing task of si fires, with its scope when
// an ancestor declares it.
func (d *Definition[S, E]) failText(si int) string {
	p := d.per[si]
	if p.failAt == si {
		return d.eventNames[p.fail]
	}
	return d.eventNames[p.fail] + " (scope " + d.stateNames[p.failAt] + ")"
}

func (d *Definition[S, E]) timeoutTexts(si int) []string {
	var out []string
	for _, t := range d.per[si].timeouts {
		after := t.what
		switch {
		case t.fn == nil:
			after = t.after.String()
		case strings.TrimSpace(after) == "":
			after = "a computed delay"
		}
		out = append(out, "after "+after+" → "+d.eventNames[t.event])
	}
	return out
}

// notes are the lines drawn under a state's name: its tasks, the event a
// failing task fires and its timeouts.
func (d *Definition[S, E]) notes(si int) []string {
	p := d.per[si]
	var lines []string
	if len(p.tasks) > 0 {
		lines = append(lines, "tasks: "+strings.Join(d.taskNames(si), ", "))
		if p.fail >= 0 {
			lines = append(lines, "task failure → "+d.failText(si))
		}
	}
	return append(lines, d.timeoutTexts(si)...)
}

// eachRule calls fn for every declared rule, by state then event, in
// declaration order.
func (d *Definition[S, E]) eachRule(fn func(at, ev int, x *decl[S, E])) {
	nE := len(d.events)
	for si := range d.states {
		for ei := range d.events {
			if x := &d.decl[si*nE+ei]; x.kind != 0 {
				fn(si, ei, x)
			}
		}
	}
}

// terminal reports whether si is a final state, or a leaf no transition
// leaves.
func (d *Definition[S, E]) terminal(si int) bool {
	if d.tree[si].final {
		return true
	}
	if len(d.tree[si].children) > 0 {
		return false
	}
	nE := len(d.events)
	for ei := range d.events {
		if k := d.cells[si*nE+ei].kind; k == KindTransition || k == KindChoice {
			return false
		}
	}
	return true
}
