package wsconn

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// secretURL holds a secret in every part the docs promise never to show:
// the user name, the password, the query and the fragment.
const secretURL = "ws://alice-user:pw-secret@feed.test/feed?token=tok-secret#frag-secret"

var secretParts = []string{"alice-user", "pw-secret", "tok-secret", "frag-secret", "redirect-secret"}

// errorTexts returns the message of err and of every error it wraps: a
// caller can reach each of them with errors.Unwrap, errors.As or %+v.
func errorTexts(err error) []string {
	if err == nil {
		return nil
	}
	out := []string{err.Error()}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		out = append(out, errorTexts(u.Unwrap())...)
	case interface{ Unwrap() []error }:
		for _, e := range u.Unwrap() {
			out = append(out, errorTexts(e)...)
		}
	}
	return out
}

// TestFailedDialsHoldNoSecrets: the log of a refused, a timed-out and a
// rejected dial, and every error the caller gets back (the records' causes,
// Err, Dial's own error), show neither the URL's userinfo nor its query nor
// its fragment.
func TestFailedDialsHoldNoSecrets(t *testing.T) {
	tests := []struct {
		name  string
		venue []wsconntest.Option
		down  bool
	}{
		{name: "connection refused", down: true},
		{name: "handshake timeout", venue: []wsconntest.Option{wsconntest.Default(wsconntest.Stall())}},
		{name: "handshake refused with 403", venue: []wsconntest.Option{wsconntest.Default(wsconntest.Refuse(http.StatusForbidden, nil))}},
		{name: "redirected to a URL with its own secrets, which times out", venue: []wsconntest.Option{
			wsconntest.Choose(func(r *http.Request, _ int) []wsconntest.Behavior {
				if r.URL.Path == "/feed" {
					return []wsconntest.Behavior{wsconntest.Redirect(http.StatusFound, "/stall?token=redirect-secret")}
				}
				return []wsconntest.Behavior{wsconntest.Stall()}
			})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t, tt.venue...)
				if tt.down {
					srv.Down()
				}
				var logs bytes.Buffer
				var logMu sync.Mutex
				logger := slog.New(slog.NewTextHandler(lockedWriter{&logs, &logMu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
				var rec recorder
				c, err := Dial(t.Context(), secretURL, WithHTTPClient(srv.Client()), OnRecord(rec.Observe), WithLogger(logger),
					WithHandshakeTimeout(time.Second),
					WithBackoff(Backoff{Initial: time.Second, Max: time.Second, Multiplier: 1, MaxAttempts: 2}))
				if c != nil {
					t.Fatalf("Dial succeeded against a failing server")
				}
				if err == nil {
					t.Fatal("Dial = nil error, want why it gave up")
				}
				var texts []string
				texts = append(texts, errorTexts(err)...)
				for _, r := range rec.Records() {
					if e, ok := r.Payload.(error); ok {
						texts = append(texts, errorTexts(e)...)
					}
					texts = append(texts, errorTexts(r.Err)...)
				}
				if got := rec.Count("Connecting-DialFailed->Reconnecting"); got == 0 {
					t.Fatalf("no failed dial recorded: the test proves nothing; %v", rec.Transitions())
				}
				logMu.Lock()
				out := logs.String()
				logMu.Unlock()
				if !strings.Contains(out, "cause=") {
					t.Fatalf("the log has no cause: the test proves nothing:\n%s", out)
				}
				for _, s := range secretParts {
					if strings.Contains(out, s) {
						t.Errorf("log holds %q:\n%s", s, out)
					}
					for _, text := range texts {
						if strings.Contains(text, s) {
							t.Errorf("an error returned to the caller holds %q: %s", s, text)
						}
					}
				}
			})
		})
	}
}

// The redaction keeps the error usable: the failure it wraps is still
// matchable, and the text still names the host and the path.
func TestRedactedDialErrorKeepsItsChain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t)
		srv.Down()
		_, err := Dial(t.Context(), secretURL, WithHTTPClient(srv.Client()),
			WithBackoff(Backoff{Initial: time.Second, Max: time.Second, Multiplier: 1, MaxAttempts: 1}))
		var gu *GaveUpError
		if !errors.As(err, &gu) || !errors.Is(err, syscall.ECONNREFUSED) {
			t.Fatalf("Dial = %v, want a *GaveUpError wrapping connection refused", err)
		}
		if !strings.Contains(err.Error(), "feed.test/feed") {
			t.Errorf("message %q does not name the host and path", err)
		}
		if st := dials(srv); st != 1 {
			t.Errorf("dials = %d, want 1", st)
		}
	})
}
