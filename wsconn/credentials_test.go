package wsconn

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// singleUseVenue accepts each token once, from the Authorization header or
// the listenKey query parameter, and refuses a token it has seen with 401
// (a listen key or a one-time signature that expired). It drops every
// connection after 10s.
type singleUseVenue struct {
	mu   sync.Mutex
	seen map[string]bool
	used []string
}

func (v *singleUseVenue) option() wsconntest.Option {
	return wsconntest.Choose(func(r *http.Request, _ int) []wsconntest.Behavior {
		token := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if token == "" {
			token = r.URL.Query().Get("listenKey")
		}
		v.mu.Lock()
		defer v.mu.Unlock()
		reused := token == "" || v.seen[token]
		if v.seen == nil {
			v.seen = map[string]bool{}
		}
		v.seen[token] = true
		v.used = append(v.used, token)
		if reused {
			return []wsconntest.Behavior{wsconntest.Refuse(http.StatusUnauthorized, nil)}
		}
		return []wsconntest.Behavior{wsconntest.Echo(), wsconntest.After(10*time.Second, wsconntest.Reset())}
	})
}

func (v *singleUseVenue) tokens() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]string(nil), v.used...)
}

// TestSingleUseTokens: against a venue that accepts each token once, a
// client with a fresh token per dial reconnects again and again; one that
// replays its first headers is refused at the first reconnect and gives
// up (401 is permanent).
func TestSingleUseTokens(t *testing.T) {
	var n atomic.Int32
	fresh := func(context.Context) (Credentials, error) {
		return Credentials{Header: http.Header{"Authorization": {fmt.Sprintf("Bearer tok-%d", n.Add(1))}}}, nil
	}
	freshURL := func(context.Context) (Credentials, error) {
		return Credentials{URL: fmt.Sprintf("ws://feed.test/ws?listenKey=key-%d", n.Add(1))}, nil
	}
	tests := []struct {
		name       string
		opts       []Option
		wantTokens []string
		wantGaveUp bool
	}{
		{"fresh header per dial", []Option{WithCredentials(fresh)}, []string{"tok-1", "tok-2", "tok-3", "tok-4"}, false},
		{"fresh URL per dial", []Option{WithCredentials(freshURL)}, []string{"key-1", "key-2", "key-3", "key-4"}, false},
		{"the first dial's header replayed", []Option{WithHeader(http.Header{"Authorization": {"Bearer tok-static"}})},
			[]string{"tok-static", "tok-static"}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				n.Store(0)
				venue := new(singleUseVenue)
				srv := startServer(t, venue.option())
				var rec recorder
				opts := append([]Option{WithBackoff(Backoff{Initial: time.Second, Max: time.Second, Multiplier: 1}),
					WithStormGuard(StormGuard{}), fixedDelay(time.Second)}, tt.opts...)
				c := dialTest(t, srv, &rec, opts...)
				time.Sleep(35 * time.Second)
				synctest.Wait()
				if diff := cmp.Diff(tt.wantTokens, venue.tokens()); diff != "" {
					t.Errorf("tokens the venue saw (-want +got):\n%s", diff)
				}
				if !tt.wantGaveUp {
					if st := c.Stats(); st.Connects != 4 {
						t.Errorf("connections = %d, want 4", st.Connects)
					}
					return
				}
				<-c.Done()
				var he *HandshakeError
				if err := c.Err(); !errors.As(err, &he) || he.Status != http.StatusUnauthorized {
					t.Errorf("Err() = %v, want the venue's 401", err)
				}
			})
		})
	}
}

// TestCredentialsFailures: the credentials function's error fails that
// dial, retried as transient; a bad URL from it is permanent; a panic in it
// fails the dial, not the process; and none of it shows the URL's secrets.
func TestCredentialsFailures(t *testing.T) {
	errTokenService := errors.New("token service unavailable")
	tests := []struct {
		name      string
		fn        func(calls int) (Credentials, error)
		wantCause func(error) bool
		wantUp    bool // a later dial succeeds
	}{
		{"error, then a token", func(calls int) (Credentials, error) {
			if calls < 3 {
				return Credentials{}, errTokenService
			}
			return Credentials{URL: "ws://feed.test/ok?token=tok-secret"}, nil
		}, func(err error) bool { return errors.Is(err, errTokenService) }, true},
		{"bad URL", func(int) (Credentials, error) {
			return Credentials{URL: "http://alice-user:pw-secret@feed.test/x?token=tok-secret"}, nil
		}, func(err error) bool { return errors.Is(err, ErrInvalidConfig) }, false},
		{"header net/http would not send", func(int) (Credentials, error) {
			return Credentials{Header: http.Header{"X-Token": {"tok-secret\r\nX-Injected: 1"}}}, nil
		}, func(err error) bool {
			return errors.Is(err, ErrInvalidConfig) && strings.Contains(err.Error(), `"X-Token"`)
		}, false},
		{"panic", func(calls int) (Credentials, error) {
			if calls < 2 {
				panic("token cache corrupted")
			}
			return Credentials{}, nil
		}, func(err error) bool { return strings.Contains(err.Error(), "token cache corrupted") }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t)
				var logs bytes.Buffer
				var logMu sync.Mutex
				logger := slog.New(slog.NewTextHandler(lockedWriter{&logs, &logMu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
				var rec recorder
				calls := 0
				c := dialTest(t, srv, &rec, WithLogger(logger),
					WithBackoff(Backoff{Initial: time.Second, Max: time.Second, Multiplier: 1}),
					WithCredentials(func(context.Context) (Credentials, error) {
						calls++
						return tt.fn(calls)
					}))
				time.Sleep(10 * time.Second)
				synctest.Wait()
				r, ok := rec.Nth("Connecting-DialFailed->Reconnecting", 1)
				if !ok {
					t.Fatalf("no failed dial; %v", rec.Transitions())
				}
				if err, _ := r.Payload.(error); !tt.wantCause(err) {
					t.Errorf("DialFailed cause = %v", err)
				}
				if tt.wantUp {
					if c.State() != connfsm.Alive {
						t.Errorf("State() = %v, want Alive after the function recovered", c.State())
					}
				} else {
					<-c.Done()
					if n := dials(srv); n != 0 {
						t.Errorf("dials = %d, want none with a bad URL", n)
					}
				}
				logMu.Lock()
				out := logs.String()
				logMu.Unlock()
				var texts []string
				for _, r := range rec.Records() {
					if e, ok := r.Payload.(error); ok {
						texts = append(texts, errorTexts(e)...)
					}
				}
				for _, s := range secretParts {
					if strings.Contains(out, s) {
						t.Errorf("log holds %q", s)
					}
					for _, text := range append(texts, errorTexts(c.Err())...) {
						if strings.Contains(text, s) {
							t.Errorf("an error holds %q: %s", s, text)
						}
					}
				}
			})
		})
	}
}

// TestCredentialsHeaderReplacesAnySpelling: a header the credentials
// function returns replaces WithHeader's values for that name however
// either spells it, as HTTP header names are case-insensitive; WithHeader's
// values under two spellings of one name are all sent.
func TestCredentialsHeaderReplacesAnySpelling(t *testing.T) {
	tests := []struct {
		name  string
		fixed http.Header
		creds http.Header
		want  []string
	}{
		{name: "fixed lower case", fixed: http.Header{"x-token": {"old"}}, creds: http.Header{"X-Token": {"new"}}, want: []string{"new"}},
		{name: "credentials lower case", fixed: http.Header{"X-Token": {"old"}}, creds: http.Header{"x-token": {"new"}}, want: []string{"new"}},
		{name: "both lower case", fixed: http.Header{"x-token": {"old"}}, creds: http.Header{"x-token": {"new"}}, want: []string{"new"}},
		{name: "credentials under two spellings", fixed: http.Header{"X-Token": {"old"}}, creds: http.Header{"x-token": {"a"}, "X-Token": {"a"}}, want: []string{"a", "a"}},
		{name: "no credentials header", fixed: http.Header{"x-token": {"a"}, "X-Token": {"a"}}, want: []string{"a", "a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t)
				c, err := Dial(t.Context(), "ws://feed.test/", WithHTTPClient(srv.Client()), WithHeader(tt.fixed),
					WithCredentials(func(context.Context) (Credentials, error) { return Credentials{Header: tt.creds}, nil }))
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close(context.Background())
				conn, ok := srv.Connection(1)
				if !ok {
					t.Fatal("the venue saw no handshake")
				}
				if diff := cmp.Diff(tt.want, conn.Header.Values("X-Token")); diff != "" {
					t.Errorf("X-Token the venue saw (-want +got):\n%s", diff)
				}
			})
		})
	}
}
