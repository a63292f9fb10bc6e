//go:build unix

package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
)

// loadChildEnv, set in a child of the test binary, holds the URL its
// TestLoadUnderFileLimitChild runs load against.
const loadChildEnv = "CONNFSM_TEST_LOAD_NOFILE_URL"

// childNoFile is the child's limit on open files, hard and soft: far
// below the clients it runs.
const childNoFile = 40

// TestLoadUnderFileLimit runs load in a child process whose open-file
// limit is lower than its clients need and cannot be raised: the report
// and the failure name the limit.
func TestLoadUnderFileLimit(t *testing.T) {
	t.Parallel() // its load runs in a process of its own
	url := venue(t).URL
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestLoadUnderFileLimitChild$")
	cmd.Env = append(os.Environ(), loadChildEnv+"="+url)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != exitFail {
		t.Fatalf("child: %v, want exit %d\nstdout:\n%s\nstderr:\n%s", err, exitFail, stdout.String(), stderr.String())
	}
	want := "open files (40 per process) stopped "
	if !strings.Contains(stdout.String(), "  limit              "+want) {
		t.Errorf("report lacks the limit line %q:\n%s", want, stdout.String())
	}
	if !strings.Contains(stderr.String(), "connfsm load: limit: "+want) {
		t.Errorf("stderr lacks the limit as the reason:\n%s", stderr.String())
	}
}

// TestLoadUnderFileLimitChild is TestLoadUnderFileLimit's child: it does
// its work only when that test starts it, and exits with load's code.
func TestLoadUnderFileLimitChild(t *testing.T) {
	url := os.Getenv(loadChildEnv)
	if url == "" {
		return // not a child: the parent test is TestLoadUnderFileLimit
	}
	lim := syscall.Rlimit{Cur: childNoFile, Max: childNoFile}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("setrlimit: %v", err)
	}
	os.Exit(run(context.Background(), []string{"load", "-raw", "-n", "60", "-duration", "200ms", "-url", url}, noStdin, os.Stdout, os.Stderr))
}

// embeddedChildEnv, set in a child of the test binary, asks its
// TestLoadEmbeddedFileLimitChild to run.
const embeddedChildEnv = "CONNFSM_TEST_LOAD_NOFILE_EMBEDDED"

// TestLoadEmbeddedFileLimit runs load's 100 clients against the embedded
// venue in a child process whose open-file limit, 250, holds one socket
// per client with room to spare, but not the venue's end of each too:
// load warns that the limit is below what the run needs.
func TestLoadEmbeddedFileLimit(t *testing.T) {
	t.Parallel() // its load runs in a process of its own
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestLoadEmbeddedFileLimitChild$")
	cmd.Env = append(os.Environ(), embeddedChildEnv+"=1")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("child: %v, want exit 0\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	want := "connfsm load: warning: the open-file limit 250 is below the 264 open files the run needs"
	if !strings.Contains(stderr.String(), want) {
		t.Errorf("stderr lacks %q:\n%s", want, stderr.String())
	}
}

// TestLoadEmbeddedFileLimitChild is TestLoadEmbeddedFileLimit's child: it
// does its work only when that test starts it, and exits with load's
// code.
func TestLoadEmbeddedFileLimitChild(t *testing.T) {
	if os.Getenv(embeddedChildEnv) == "" {
		return // not a child: the parent test is TestLoadEmbeddedFileLimit
	}
	lim := syscall.Rlimit{Cur: 250, Max: 250}
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatalf("setrlimit: %v", err)
	}
	os.Exit(run(context.Background(), []string{"load", "-n", "100", "-duration", "200ms"}, noStdin, os.Stdout, os.Stderr))
}
