package main

import (
	"errors"
	"flag"
	"fmt"
	"io"

	"github.com/connfsm/connfsm"
)

// diagramFormats maps each -format value to the writer of that format.
var diagramFormats = []struct {
	name  string
	write func(w io.Writer) error
}{
	{"mermaid", func(w io.Writer) error { return connfsm.Definition().WriteMermaid(w) }},
	{"dot", func(w io.Writer) error { return connfsm.Definition().WriteDOT(w) }},
	{"matrix", func(w io.Writer) error { return connfsm.Definition().WriteMatrix(w) }},
}

// runDiagram prints the lifecycle: a Mermaid state diagram (the default),
// Graphviz DOT (pipe it to `dot -Tsvg`), or the Markdown transition matrix
// with every cell's reason.
func runDiagram(c command, e env, args []string) int {
	cfg, err := parseDiagramFlags(args)
	if code, done := reportUsage(diagramFlagSet(new(diagramConfig)), c, err, e.stdout, e.stderr); done {
		return code
	}
	if err := cfg.format.write(e.stdout); err != nil {
		fmt.Fprintf(e.stderr, "connfsm diagram: %v\n", err)
		return exitFail
	}
	return exitOK
}

// diagramConfig is diagram's command line.
type diagramConfig struct {
	format diagramFormat
}

// diagramFlagSet returns diagram's flags, which set cfg.
func diagramFlagSet(cfg *diagramConfig) *flag.FlagSet {
	fs := flag.NewFlagSet("diagram", flag.ContinueOnError)
	cfg.format = diagramFormat{write: diagramFormats[0].write, name: diagramFormats[0].name}
	fs.Var(&cfg.format, "format", "output `format`: mermaid, dot or matrix")
	return fs
}

// parseDiagramFlags parses diagram's arguments; it prints nothing.
func parseDiagramFlags(args []string) (diagramConfig, error) {
	var cfg diagramConfig
	_, _, err := parseArgs(diagramFlagSet(&cfg), args, 0)
	return cfg, err
}

// diagramFormat is the -format flag: Set accepts only a known format, so a
// bad value is a usage error reported by the flag package, naming it.
type diagramFormat struct {
	name  string
	write func(io.Writer) error
}

func (f *diagramFormat) String() string { return f.name }

func (f *diagramFormat) Set(s string) error {
	for _, known := range diagramFormats {
		if known.name == s {
			f.name, f.write = known.name, known.write
			return nil
		}
	}
	return errors.New("unknown format (want mermaid, dot or matrix)")
}
