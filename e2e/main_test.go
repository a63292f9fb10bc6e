package e2e

import (
	"flag"
	"testing"

	"go.uber.org/goleak"
)

// Every server, proxy and client is stopped by its test's cleanup; toxiproxy
// links end when their connections close, so nothing needs ignoring.
//
// The tests wait on timers and the network far more than they compute
// (about a second of CPU for some 25 s of waits), and each has its own
// venue and proxy: unless -parallel is given, they run all at once rather
// than GOMAXPROCS at a time.
func TestMain(m *testing.M) {
	flag.Parse()
	if !parallelSet() {
		_ = flag.Set("test.parallel", "32")
	}
	goleak.VerifyTestMain(m)
}

// parallelSet reports whether -test.parallel was given.
func parallelSet() (set bool) {
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	return set
}
