package otelconnfsm

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestCauseString: every cause has its label, and a value beyond the set
// is labelled "other", so that the label's set stays closed.
func TestCauseString(t *testing.T) {
	var got []string
	for _, c := range []Cause{CauseOther, CauseReset, CauseEOF, CausePongTimeout, CauseIdleTimeout,
		CauseCloseFrame, CauseWriteError, CauseRequested, causeCount, 200} {
		got = append(got, c.String())
	}
	want := []string{"other", "reset", "eof", "pong_timeout", "idle_timeout", "close_frame", "write_error", "requested", "other", "other"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("labels (-want +got):\n%s", diff)
	}
}
