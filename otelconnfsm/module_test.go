package otelconnfsm

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

// TestRootModuleFree: the library's module requires no telemetry library;
// only this module (and the CLI's) do.
func TestRootModuleFree(t *testing.T) {
	cmd := exec.Command("go", "mod", "graph")
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), "GOWORK=off")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go mod graph: %v\n%s", err, out)
	}
	for _, line := range strings.Split(string(out), "\n") {
		if strings.Contains(line, "opentelemetry") || strings.Contains(line, "prometheus") {
			t.Errorf("the root module's graph names %q", line)
		}
	}
}
