//go:build !unix

package loadgen

// openFileLimit has no rlimit to read here: 0 means unknown.
func openFileLimit() uint64 { return 0 }

// processCPU has no getrusage here: -1 means unknown.
func processCPU() float64 { return -1 }
