//go:build !unix

package loadgen

// raiseFileLimit has nothing to raise where open files are not limited by
// an rlimit; 0 means unknown.
func raiseFileLimit() (uint64, error) { return 0, nil }
