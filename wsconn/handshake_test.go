package wsconn

import (
	"errors"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// TestRedirectLoop: a server that redirects the handshake back to itself,
// or on and on to new URLs. One dial attempt follows a bounded number of
// redirects (coder/websocket's CheckRedirect lifts net/http's limit of 10),
// and a redirect loop is permanent: the client gives up instead of
// retrying for ever.
func TestRedirectLoop(t *testing.T) {
	// Beyond stopAt requests the server refuses, so that a client that
	// follows the loop without a bound still ends (in virtual time nothing
	// would ever time the loop out).
	const stopAt = 50
	tests := []struct {
		name     string
		next     func(r *http.Request, n int32) string
		requests int32 // the most one dial may send
	}{
		{"back to itself", func(r *http.Request, _ int32) string { return r.URL.Path }, 2},
		{"on to a new URL each time", func(_ *http.Request, n int32) string { return "/hop" + strconv.Itoa(int(n)) }, MaxRedirects + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var requests atomic.Int32
				srv := startServer(t, wsconntest.Choose(func(r *http.Request, _ int) []wsconntest.Behavior {
					n := requests.Add(1)
					if n > stopAt {
						return []wsconntest.Behavior{wsconntest.Refuse(http.StatusForbidden, nil)}
					}
					return []wsconntest.Behavior{wsconntest.Redirect(http.StatusFound, tt.next(r, n))}
				}))
				var rec recorder
				_, err := Dial(t.Context(), "ws://feed.test/loop", WithHTTPClient(srv.Client()), OnRecord(rec.Observe),
					WithBackoff(Backoff{Initial: time.Second, Max: time.Second, Multiplier: 1}))
				if n := requests.Load(); n > tt.requests {
					t.Errorf("one dial sent %d requests, want at most %d", n, tt.requests)
				}
				var gu *GaveUpError
				if !errors.As(err, &gu) || !errors.Is(err, ErrTooManyRedirects) {
					t.Fatalf("Dial = %v, want a *GaveUpError wrapping ErrTooManyRedirects", err)
				}
				want := []string{"Connecting-DialFailed->Reconnecting", "Reconnecting-GaveUp->Closed"}
				if diff := cmp.Diff(want, rec.Transitions()); diff != "" {
					t.Errorf("transitions (-want +got):\n%s", diff)
				}
			})
		})
	}
}

// TestBadAcceptBoundedByHandshakeTimeout: a 101 with a wrong
// Sec-WebSocket-Accept and the socket kept open. coder/websocket reads the
// rest of the answer under a fixed 3s timer; the handshake timeout must
// bound the attempt, and Close must end it at once.
func TestBadAcceptBoundedByHandshakeTimeout(t *testing.T) {
	const handshakeTimeout = time.Second
	t.Run("handshake timeout", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			srv := startServer(t, wsconntest.Default(wsconntest.BadAccept()))
			var rec recorder
			start := time.Now()
			c := dialTest(t, srv, &rec, WithHandshakeTimeout(handshakeTimeout),
				WithBackoff(Backoff{Initial: time.Hour, Max: time.Hour, Multiplier: 1}))
			waitState(t, c, connfsm.Reconnecting)
			r, ok := rec.Nth("Connecting-DialFailed->Reconnecting", 1)
			if !ok {
				t.Fatalf("no DialFailed; %v", rec.Transitions())
			}
			if took := r.When.Sub(start); took != handshakeTimeout {
				t.Errorf("DialFailed after %v, want the handshake timeout %v", took, handshakeTimeout)
			}
			if err, _ := r.Payload.(error); !errors.Is(err, ErrHandshakeTimeout) {
				t.Errorf("cause = %v, want ErrHandshakeTimeout", err)
			}
		})
	})
	t.Run("Close during the attempt", func(t *testing.T) {
		synctest.Test(t, func(t *testing.T) {
			srv := startServer(t, wsconntest.Default(wsconntest.BadAccept()))
			var rec recorder
			c := dialTest(t, srv, &rec, WithHandshakeTimeout(time.Minute))
			time.Sleep(100 * time.Millisecond) // the 101 is in, the read of its body under way
			synctest.Wait()
			start := time.Now()
			if err := c.Close(t.Context()); err != nil {
				t.Errorf("Close = %v", err)
			}
			if took := time.Since(start); took != 0 {
				t.Errorf("Close took %v during a stuck handshake, want at once", took)
			}
		})
	})
}
