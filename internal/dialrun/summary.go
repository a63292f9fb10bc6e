package dialrun

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/internal/timeline"
	"github.com/connfsm/connfsm/session"
)

// summary prints the summary line and returns the exit code: ExitOK after
// a user close with every accepted line sent, ExitFail otherwise.
func summary(client Client, closeErr error, stragglers int, tl *timeline.Timeline, stderr io.Writer) int {
	// Close has returned, so by its contract every task has returned. Count
	// what contradicts that rather than assume it: a client not Closed or
	// not Done, and any task reported as a straggler (it outlived its
	// join and nothing proves it has returned since).
	running := stragglers
	select {
	case <-client.Done():
	default:
		running++
	}
	if client.State() != connfsm.Closed {
		running++
	}
	st := client.Stats()
	cause := client.Err()
	fields := map[string]any{
		"connections": st.Connects, "reconnects": st.Reconnects, "messages_in": st.MessagesIn,
		"messages_out": st.MessagesOut, "unsent": st.Unsent, "tasks_running": running, "cause": errString(cause),
	}
	if code, reason := timeline.CloseOf(cause); code != 0 {
		fields["close_code"], fields["close_reason"] = code, reason
	}
	// What a slow stdout cost: the lag always, the counts when not zero.
	for k, v := range map[string]uint64{"dropped": st.Dropped + st.SlowDropped, "conflated": st.Conflated, "too_big": st.TooBig} {
		if v > 0 {
			fields[k] = v
		}
	}
	fields["max_lag_ms"] = float64(st.MaxLag) / float64(time.Millisecond)
	tl.Summary(fmt.Sprintf("summary: connections %d, reconnects %d, messages in %d, out %d, unsent %d, tasks still running %d; ended: %v",
		st.Connects, st.Reconnects, st.MessagesIn, st.MessagesOut, st.Unsent, running, cause), fields)
	var gaveUp *session.GaveUpError
	switch {
	case errors.As(cause, &gaveUp):
		fmt.Fprintf(stderr, "connfsm dial: %v\n", cause)
		return ExitFail
	case !errors.Is(cause, session.ErrClosed):
		fmt.Fprintf(stderr, "connfsm dial: ended: %v\n", cause)
		return ExitFail
	case closeErr != nil:
		fmt.Fprintf(stderr, "connfsm dial: close: %v\n", closeErr)
		return ExitFail
	case running > 0:
		fmt.Fprintf(stderr, "connfsm dial: %d task(s) may still be running\n", running)
		return ExitFail
	}
	return ExitOK
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
