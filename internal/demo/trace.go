package demo

import (
	"fmt"
	"os"
	"runtime/trace"
)

// StartTrace writes the execution trace to path until stop is called: the
// lifecycle shows in it as a trace task per state entry and a region per
// state-scoped task (see package fsm).
func StartTrace(path string) (stop func(), err error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("trace: %w", err)
	}
	if err := trace.Start(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("trace: %w", err)
	}
	return func() {
		trace.Stop()
		_ = f.Close()
	}, nil
}
