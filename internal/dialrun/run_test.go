package dialrun

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/internal/timeline"
	"github.com/connfsm/connfsm/wsconn"
)

// fakeClient is a Client of no transport: SendText writes at once (or
// fails with sendErr), Close ends it with closeErr and cause.
type fakeClient struct {
	mu       sync.Mutex
	sent     []string
	stats    wsconn.Stats
	state    connfsm.State
	cause    error
	done     chan struct{}
	sendErr  error
	closeErr error
	once     sync.Once
}

func newFake() *fakeClient {
	return &fakeClient{state: connfsm.Ready, done: make(chan struct{})}
}

func (f *fakeClient) SendText(_ context.Context, text string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.sendErr != nil {
		return f.sendErr
	}
	f.sent = append(f.sent, text)
	f.stats.MessagesOut++
	return nil
}

func (f *fakeClient) Close(context.Context) error {
	f.end(connfsm.Closed, wsconn.ErrClosed)
	return f.closeErr
}

// end ends the client in state with cause, once.
func (f *fakeClient) end(state connfsm.State, cause error) {
	f.once.Do(func() {
		f.mu.Lock()
		f.state, f.cause = state, cause
		f.mu.Unlock()
		close(f.done)
	})
}

func (f *fakeClient) Done() <-chan struct{} { return f.done }

func (f *fakeClient) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cause
}

func (f *fakeClient) State() connfsm.State {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.state
}

func (f *fakeClient) Stats() wsconn.Stats {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stats
}

// TestRunAnyTransport: Run drives whatever Config.Dial returns: stdin's
// lines go to its SendText in order, stdin's end closes it, and the exit
// code follows the Dial's error and the client's end.
func TestRunAnyTransport(t *testing.T) {
	tests := []struct {
		name     string
		dialErr  error
		sendErr  error
		closeErr error
		want     int
		wantSent []string
		stderr   string
	}{
		{name: "clean", want: ExitOK, wantSent: []string{"one", "two"}, stderr: "tasks still running 0; ended: session: client closed"},
		{name: "bad configuration", dialErr: fmt.Errorf("%w: PingInterval", wsconn.ErrInvalidConfig), want: ExitUsage, stderr: "connfsm dial: session: invalid configuration: PingInterval"},
		{name: "dial fails", dialErr: errors.New("no route"), want: ExitFail, stderr: "connfsm dial: no route"},
		{name: "line refused", sendErr: wsconn.ErrNotConnected, want: ExitOK, stderr: "connfsm dial: line not sent: session: not connected"},
		{name: "close fails", closeErr: errors.New("handshake timed out"), want: ExitFail, wantSent: []string{"one", "two"}, stderr: "connfsm dial: close: handshake timed out"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake()
			fake.sendErr, fake.closeErr = tt.sendErr, tt.closeErr
			var gotOpts int
			cfg := Config{Dial: func(_ context.Context, opts ...wsconn.Option) (Client, error) {
				gotOpts = len(opts)
				if tt.dialErr != nil {
					return nil, tt.dialErr
				}
				return fake, nil
			}}
			var stdout, stderr strings.Builder
			if got := Run(t.Context(), cfg, strings.NewReader("one\ntwo\n"), &stdout, &stderr); got != tt.want {
				t.Errorf("Run = %d, want %d; stderr:\n%s", got, tt.want, stderr.String())
			}
			if diff := cmp.Diff(tt.wantSent, fake.sent); diff != "" {
				t.Errorf("lines sent (-want +got):\n%s", diff)
			}
			if !strings.Contains(stderr.String(), tt.stderr) {
				t.Errorf("stderr lacks %q:\n%s", tt.stderr, stderr.String())
			}
			if gotOpts == 0 {
				t.Error("Dial got no options: Run's observers are missing")
			}
		})
	}
}

// TestSummaryExitCode: the exit code is 0 only after a user close with
// nothing left running; any other end names its cause.
func TestSummaryExitCode(t *testing.T) {
	tests := []struct {
		name       string
		state      connfsm.State
		cause      error
		ended      bool
		closeErr   error
		stragglers int
		want       int
		stderr     string
	}{
		{name: "closed", state: connfsm.Closed, cause: wsconn.ErrClosed, ended: true, want: ExitOK},
		{name: "gave up", state: connfsm.Closed, cause: &wsconn.GaveUpError{Attempts: 3, Cause: errors.New("refused")}, ended: true,
			want: ExitFail, stderr: "connfsm dial: session: gave up after 3 attempt(s): refused"},
		{name: "lifetime over", state: connfsm.Closed, cause: context.Canceled, ended: true, want: ExitFail, stderr: "connfsm dial: ended: context canceled"},
		{name: "close failed", state: connfsm.Closed, cause: wsconn.ErrClosed, ended: true, closeErr: errors.New("timeout"),
			want: ExitFail, stderr: "connfsm dial: close: timeout"},
		{name: "a straggler", state: connfsm.Closed, cause: wsconn.ErrClosed, ended: true, stragglers: 1,
			want: ExitFail, stderr: "connfsm dial: 1 task(s) may still be running"},
		{name: "not done", state: connfsm.Closing, cause: wsconn.ErrClosed,
			want: ExitFail, stderr: "connfsm dial: 2 task(s) may still be running"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake := newFake()
			fake.state, fake.cause = tt.state, tt.cause
			if tt.ended {
				close(fake.done)
			}
			var stderr strings.Builder
			got := summary(fake, tt.closeErr, tt.stragglers, timeline.New(io.Discard, false, false), &stderr)
			if got != tt.want {
				t.Errorf("summary = %d, want %d", got, tt.want)
			}
			if diff := cmp.Diff(tt.stderr, strings.TrimSuffix(stderr.String(), "\n")); diff != "" {
				t.Errorf("stderr (-want +got):\n%s", diff)
			}
		})
	}
}

// TestWaitFlushedWakesOnSteps: waitFlushed looks at the counters when the
// lifecycle steps, not on a clock; it returns once every accepted line is
// written or unsent, or the client ends.
func TestWaitFlushedWakesOnSteps(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		fake := newFake()
		stepped := make(chan struct{}, 1)
		returned := make(chan struct{})
		go func() {
			waitFlushed(t.Context(), fake, 3, stepped)
			close(returned)
		}()
		isDone := func() bool {
			synctest.Wait()
			select {
			case <-returned:
				return true
			default:
				return false
			}
		}
		if isDone() {
			t.Fatal("returned with 3 lines accepted and none written")
		}
		fake.mu.Lock()
		fake.stats.MessagesOut, fake.stats.Unsent = 1, 1
		fake.mu.Unlock()
		stepped <- struct{}{}
		if isDone() {
			t.Fatal("returned with 2 of 3 lines written or unsent")
		}
		fake.mu.Lock()
		fake.stats.MessagesOut = 2
		fake.mu.Unlock()
		stepped <- struct{}{}
		if !isDone() {
			t.Fatal("still waiting with every line written or unsent")
		}
	})
	synctest.Test(t, func(t *testing.T) {
		fake := newFake()
		returned := make(chan struct{})
		go func() {
			waitFlushed(t.Context(), fake, 1, make(chan struct{}))
			close(returned)
		}()
		fake.end(connfsm.Closed, wsconn.ErrClosed)
		synctest.Wait()
		select {
		case <-returned:
		default:
			t.Fatal("still waiting after the client ended")
		}
	})
}

// TestStdinLinesUpToTheWriteLimit: a stdin line is sent if it is within
// the write limit (1 MiB and over included), and one over it is reported
// and skipped: the lines after it are still read and sent.
func TestStdinLinesUpToTheWriteLimit(t *testing.T) {
	const limit = 2 << 20
	within := strings.Repeat("w", limit/2+1)
	at := strings.Repeat("a", limit)
	over := strings.Repeat("o", limit+1)
	fake := newFake()
	cfg := Config{WriteLimit: limit, Dial: func(context.Context, ...wsconn.Option) (Client, error) { return fake, nil }}
	stdin := strings.NewReader(within + "\n" + at + "\r\n" + over + "\n" + over + "\r\n" + "after\n" + "last")
	var stdout, stderr strings.Builder
	if got := Run(t.Context(), cfg, stdin, &stdout, &stderr); got != ExitOK {
		t.Errorf("Run = %d, want %d; stderr:\n%s", got, ExitOK, stderr.String())
	}
	var sizes []int
	for _, s := range fake.sent {
		sizes = append(sizes, len(s))
	}
	if diff := cmp.Diff([]int{len(within), len(at), len("after"), len("last")}, sizes); diff != "" {
		t.Errorf("sizes of the lines sent (-want +got):\n%s", diff)
	}
	if n := len(fake.sent); n == 4 && (fake.sent[2] != "after" || fake.sent[3] != "last") {
		t.Errorf("lines after the long ones: %q, %q", fake.sent[2], fake.sent[3])
	}
	notSent := fmt.Sprintf("connfsm dial: line not sent: session: message too big: %d bytes over the write limit of %d\n", limit+1, limit)
	if got := strings.Count(stderr.String(), notSent); got != 2 {
		t.Errorf("stderr reports the long lines %d times, want 2:\n%s", got, stderr.String())
	}
}
