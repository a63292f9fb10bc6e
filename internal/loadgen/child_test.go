package loadgen

import (
	"context"
	"flag"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// childEnv is set in the environment of a child of the test binary that
// runs one test alone (inChild).
const childEnv = "LOADGEN_TEST_CHILD"

// childPatience bounds a child's run: the longest run is a few seconds.
const childPatience = 2 * time.Minute

// inChild runs the calling test in a process of its own, in parallel with
// the other tests, and reports whether it did: the caller then returns. In
// that child it reports false and the test does its work. A run counts the
// process's goroutines and heap, so two runs in one process would count
// each other's.
func inChild(t *testing.T) bool {
	t.Helper()
	if os.Getenv(childEnv) == t.Name() {
		return false
	}
	t.Parallel()
	var pattern []string
	for _, part := range strings.Split(t.Name(), "/") {
		pattern = append(pattern, "^"+regexp.QuoteMeta(part)+"$")
	}
	ctx, cancel := context.WithTimeout(t.Context(), childPatience)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run="+strings.Join(pattern, "/"), "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), childEnv+"="+t.Name())
	out, err := cmd.CombinedOutput()
	switch {
	case err != nil:
		t.Errorf("%v; the run:\n%s", err, out)
	case !strings.Contains(string(out), "--- PASS: "+t.Name()+" "):
		t.Errorf("the child did not run %s:\n%s", t.Name(), out)
	}
	return true
}

// setParallel parses the flags and, unless -parallel is given, lets more
// tests run at once than GOMAXPROCS: the tests that run in a child wait on
// the network far more than they compute.
func setParallel() {
	flag.Parse()
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "test.parallel" })
	if !set {
		_ = flag.Set("test.parallel", "8")
	}
}
