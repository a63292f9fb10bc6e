// Command fsmvet reports missing and duplicate (state, event) pairs in
// fsm rule tables; see package github.com/connfsm/connfsm/fsm/fsmvet.
//
// Run it through go vet:
//
//	go install github.com/connfsm/connfsm/fsm/fsmvet/cmd/fsmvet@latest
//	go vet -vettool=$(command -v fsmvet) ./...
//
// or on its own, with the same package patterns:
//
//	fsmvet ./...
package main

import (
	"golang.org/x/tools/go/analysis/singlechecker"

	"github.com/connfsm/connfsm/fsm/fsmvet"
)

func main() { singlechecker.Main(fsmvet.Analyzer) }
