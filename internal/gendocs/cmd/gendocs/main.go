// Command gendocs rewrites docs/lifecycle.md, docs/lifecycle.dot,
// docs/lifecycle.svg and the diagram block of README.md from the lifecycle
// table. It runs from the module root, through `go generate ./...`.
package main

import (
	"fmt"
	"os"

	"github.com/connfsm/connfsm/internal/gendocs"
)

func main() {
	if err := gendocs.Write("."); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
