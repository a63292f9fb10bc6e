package fsm

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
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
// state per declared state (labelled with its name, its tasks and the event
// a failing task fires), an edge per declared transition labelled with its
// event, the initial state entered from [*] and every state without an
// outgoing transition leading to [*]. Ignored and rejected pairs are not
// drawn; WriteMatrix shows them.
func (d *Definition[S, E]) WriteMermaid(w io.Writer) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("stateDiagram-v2\n")
	for si := range d.states {
		label := mermaidLabel(d.stateNames[si])
		if strings.TrimSpace(label) == "" {
			label = "#32;" // Mermaid cannot parse an empty quoted label
		}
		fmt.Fprintf(bw, "    state \"%s\" as s%d\n", label, si)
		for _, line := range d.notes(si) {
			fmt.Fprintf(bw, "    s%d : %s\n", si, mermaidLabel(line))
		}
	}
	fmt.Fprintf(bw, "    [*] --> s%d\n", d.initial)
	d.eachTransition(func(from, ev, to int) {
		fmt.Fprintf(bw, "    s%d --> s%d", from, to)
		if l := mermaidLabel(d.eventNames[ev]); strings.TrimSpace(l) != "" {
			fmt.Fprintf(bw, " : %s", l)
		}
		bw.WriteByte('\n')
	})
	for si := range d.states {
		if d.terminal(si) {
			fmt.Fprintf(bw, "    s%d --> [*]\n", si)
		}
	}
	return bw.Flush()
}

// WriteDOT writes the definition as a Graphviz digraph: a box per state
// labelled with its name, its tasks and the event a failing task fires, a
// point leading to the initial state, a double border around every state
// without an outgoing transition, and an edge per declared transition
// labelled with its event. Ignored and rejected pairs are not drawn.
func (d *Definition[S, E]) WriteDOT(w io.Writer) error {
	bw := bufio.NewWriter(w)
	bw.WriteString("digraph fsm {\n")
	bw.WriteString("\tnode [shape=box, style=rounded];\n")
	bw.WriteString("\tstart [shape=point, label=\"\"];\n")
	for si := range d.states {
		label := dotString(d.stateNames[si])
		for _, line := range d.notes(si) {
			label += `\n` + dotString(line)
		}
		fmt.Fprintf(bw, "\ts%d [label=\"%s\"", si, label)
		if d.terminal(si) {
			bw.WriteString(", peripheries=2")
		}
		bw.WriteString("];\n")
	}
	fmt.Fprintf(bw, "\tstart -> s%d;\n", d.initial)
	d.eachTransition(func(from, ev, to int) {
		fmt.Fprintf(bw, "\ts%d -> s%d [label=\"%s\"];\n", from, to, dotString(d.eventNames[ev]))
	})
	bw.WriteString("}\n")
	return bw.Flush()
}

// WriteMatrix writes the definition's full table as a Markdown (GitHub
// flavoured) table: a row per state, a column per event, and in each cell
// the declared outcome with its reason: "→ Target: reason" for a
// transition, "ignore: reason" or "reject: reason" otherwise. If any state
// has tasks, a second table follows, after a blank line: a row per state
// with its tasks and the event a failing task fires.
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
	for si := range d.states {
		fmt.Fprintf(bw, "| %s |", markdownCell(d.stateNames[si]))
		for ei := range d.events {
			c := d.cells[si*nE+ei]
			var text string
			switch c.kind {
			case KindTransition:
				text = "→ " + d.stateNames[c.to]
			default:
				text = c.kind.String()
			}
			if c.reason != "" {
				text += ": " + c.reason
			}
			fmt.Fprintf(bw, " %s |", markdownCell(text))
		}
		bw.WriteByte('\n')
	}
	d.writeTaskTable(bw)
	return bw.Flush()
}

// writeTaskTable writes WriteMatrix's second table, if any state has tasks.
func (d *Definition[S, E]) writeTaskTable(bw *bufio.Writer) {
	if !slices.ContainsFunc(d.per, func(p stateDef[S, E]) bool { return len(p.tasks) > 0 }) {
		return
	}
	bw.WriteString("\n| state | tasks | a failing task fires |\n|---|---|---|\n")
	for si, p := range d.per {
		tasks, fail := "none", "–"
		if len(p.tasks) > 0 {
			names := make([]string, len(p.tasks))
			for i, t := range p.tasks {
				names[i] = t.name
			}
			tasks = strings.Join(names, ", ")
		}
		if p.fail >= 0 && len(p.tasks) > 0 {
			fail = d.eventNames[p.fail]
		}
		fmt.Fprintf(bw, "| %s | %s | %s |\n", markdownCell(d.stateNames[si]), markdownCell(tasks), markdownCell(fail))
	}
}

// notes are the lines drawn under a state's name: its tasks and the event a
// failing task fires.
func (d *Definition[S, E]) notes(si int) []string {
	p := d.per[si]
	if len(p.tasks) == 0 {
		return nil
	}
	names := make([]string, len(p.tasks))
	for i, t := range p.tasks {
		names[i] = t.name
	}
	lines := []string{"tasks: " + strings.Join(names, ", ")}
	if p.fail >= 0 {
		lines = append(lines, "task failure → "+d.eventNames[p.fail])
	}
	return lines
}

// eachTransition calls fn for every declared transition, by source state
// then event, in declaration order.
func (d *Definition[S, E]) eachTransition(fn func(from, ev, to int)) {
	nE := len(d.events)
	for si := range d.states {
		for ei := range d.events {
			if c := d.cells[si*nE+ei]; c.kind == KindTransition {
				fn(si, ei, c.to)
			}
		}
	}
}

// terminal reports whether no declared transition leaves state si.
func (d *Definition[S, E]) terminal(si int) bool {
	nE := len(d.events)
	for ei := range d.events {
		if d.cells[si*nE+ei].kind == KindTransition {
			return false
		}
	}
	return true
}

// printable maps r to what a label may hold: line breaks and other control
// characters become spaces, and what is not a character in XML (the
// diagrams end up in SVG) becomes U+FFFD.
func printable(r rune) rune {
	switch {
	case unicode.IsControl(r):
		return ' '
	case r == 0xFFFE || r == 0xFFFF || r == utf8.RuneError:
		return utf8.RuneError
	}
	return r
}

// mermaidLabel escapes s for a Mermaid label, a quoted state label, a state
// description or an edge label. Letters, digits, spaces and a few harmless
// marks are kept; every other character is written as a Mermaid entity
// code (#quot;, #58;), which Mermaid replaces before it parses, so no name
// can end a string, start a comment, split a description at a colon or
// turn a state into a fork. Line breaks become spaces.
func mermaidLabel(s string) string {
	var b strings.Builder
	for _, r := range s {
		r = printable(r)
		switch {
		case r < utf8.RuneSelf && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' ||
			strings.ContainsRune(" _-.,()/!?'+*=@", r)):
			b.WriteRune(r)
		case r >= utf8.RuneSelf && unicode.IsGraphic(r) && !unicode.IsSpace(r):
			b.WriteRune(r)
		case r == '"':
			b.WriteString("#quot;")
		default:
			fmt.Fprintf(&b, "#%d;", r)
		}
	}
	return breakDirection(b.String())
}

// breakDirection escapes the last letter of every "direction" in s, in any
// case. Mermaid's state diagram lexer takes any line containing "direction"
// followed by TB, BT, LR or RL for a layout statement, wherever it appears.
func breakDirection(s string) string {
	const word = "direction"
	var b strings.Builder
	for {
		i := indexFoldASCII(s, word)
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		end := i + len(word)
		b.WriteString(s[:end-1])
		fmt.Fprintf(&b, "#%d;", s[end-1])
		s = s[end:]
	}
}

// indexFoldASCII is strings.Index ignoring ASCII case only, as Mermaid's
// lexer does.
func indexFoldASCII(s, word string) int {
	for i := 0; i+len(word) <= len(s); i++ {
		match := true
		for j := 0; j < len(word); j++ {
			c := s[i+j]
			if 'A' <= c && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c != word[j] {
				match = false
				break
			}
		}
		if match {
			return i
		}
	}
	return -1
}

// dotString escapes s for the inside of a Graphviz quoted string used as a
// label: backslashes and quotes are escaped, line breaks become \n, other
// control characters spaces, and & is written &amp; because Graphviz
// decodes HTML entities in labels.
func dotString(s string) string {
	var b strings.Builder
	s = strings.ReplaceAll(s, "\r\n", "\n")
	for _, r := range s {
		switch r {
		case '\\':
			b.WriteString(`\\`)
		case '"':
			b.WriteString(`\"`)
		case '\n', '\r':
			b.WriteString(`\n`)
		case '&':
			b.WriteString("&amp;")
		default:
			b.WriteRune(printable(r))
		}
	}
	return b.String()
}

// markdownCell escapes s for a cell of a GitHub-flavoured Markdown table:
// | and the characters that start inline markup are backslash-escaped, and
// line breaks and other control characters become spaces.
func markdownCell(s string) string {
	var b strings.Builder
	for _, r := range s {
		r = printable(r)
		if strings.ContainsRune("\\|*_`[]<>~&$", r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
