package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestDemoBinary runs `demo -json` as a process of its own (the test
// binary as the command, through main) and checks every line: each
// scene's transitions, and that every check passed.
func TestDemoBinary(t *testing.T) {
	t.Parallel() // a process of its own: its goroutines are not this one's
	var stdout, stderr bytes.Buffer
	cmd := asCommand(t.Context(), "demo", "-json")
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("demo -json: %v\nstderr: %s\nstdout:\n%s", err, stderr.String(), stdout.String())
	}

	type jsonLine struct {
		T     string `json:"t"`
		Kind  string `json:"kind"`
		Name  string `json:"name"`
		From  string `json:"from"`
		Event string `json:"event"`
		To    string `json:"to"`
		Epoch uint64 `json:"epoch"`
		OK    *bool  `json:"ok"`
	}
	var scenes []string
	perScene := map[string][]string{}
	var failed []string
	checks := 0
	sc := bufio.NewScanner(&stdout)
	for sc.Scan() {
		var l jsonLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("line %q is not JSON: %v", sc.Text(), err)
		}
		if l.T == "" || l.Kind == "" {
			t.Errorf("line %q lacks t or kind", sc.Text())
		}
		switch l.Kind {
		case "scene":
			scenes = append(scenes, l.Name)
		case "transition":
			if len(scenes) == 0 || l.Epoch == 0 {
				t.Fatalf("transition before any scene or without epoch: %q", sc.Text())
			}
			s := scenes[len(scenes)-1]
			step := l.From + "-" + l.Event + "->" + l.To
			perScene[s] = append(perScene[s], step)
		case "check":
			checks++
			if l.OK == nil || !*l.OK {
				failed = append(failed, l.Name)
			}
		}
	}
	if len(failed) > 0 {
		t.Errorf("failed checks: %v\n%s", failed, stdout.String())
	}
	if checks < 8 {
		t.Errorf("%d checks, want at least 8", checks)
	}
	const (
		up   = "Connecting-Connected->Alive/Syncing"
		sync = "Alive/Syncing-Synced->Alive/Ready"
		lost = "Alive/Ready-Lost->Reconnecting"
	)
	want := [][]string{
		{up, sync},
		nil,
		{lost, "Reconnecting-RetryDue->Connecting", up, sync},
		{lost, "Reconnecting-RetryDue->Connecting", up, sync},
		{lost, "Reconnecting-RetryDue->Connecting", "Connecting-DialFailed->Reconnecting", "Reconnecting-RetryDue->Connecting", up, sync},
		nil, // the subscriptions' scene: its client's steps are of kind subscription
		{lost, "Reconnecting-Close->Closed"},
		{up, sync, "Alive/Ready-Close->Closing", "Closing-CloseDone->Closed"},
		nil,
	}
	var got [][]string
	for _, s := range scenes {
		got = append(got, collapse(perScene[s]))
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("transitions per scene %v (-want +got):\n%s", scenes, diff)
	}
}

// collapse folds repeated pairs of steps into one: the failed attempts
// while the server is down come in a number the test does not fix.
func collapse(steps []string) []string {
	for i := 0; i+3 < len(steps); {
		if steps[i] == steps[i+2] && steps[i+1] == steps[i+3] {
			steps = append(steps[:i+2:i+2], steps[i+4:]...)
			continue
		}
		i++
	}
	return steps
}
