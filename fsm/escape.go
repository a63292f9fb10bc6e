package fsm

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// This file escapes names for the diagrams' formats.

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
