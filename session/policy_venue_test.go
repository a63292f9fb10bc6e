package session

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// waitLog keeps the Wait of every RetryDue step, in order: an observer of
// its own, since recorder keeps error payloads only.
type waitLog struct {
	mu    sync.Mutex
	waits []Wait
}

func (l *waitLog) option() Option {
	return OnRecord(func(_ context.Context, r fsm.Record[connfsm.State, connfsm.Event]) {
		if r.Kind != fsm.RecordTransition {
			return
		}
		if w, ok := r.Payload.(*Wait); ok && r.Event == connfsm.RetryDue {
			l.mu.Lock()
			l.waits = append(l.waits, *w)
			l.mu.Unlock()
		}
	})
}

func (l *waitLog) list() []Wait {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]Wait(nil), l.waits...)
}

// TestVenueCloseCodes: a venue that closes every connection with a code.
// 4001 "invalid api key" is retried by default and ends the client with
// WithPermanentCloseCodes, its code and reason reachable with errors.As;
// 1008 and 1013 are retried, slower.
func TestVenueCloseCodes(t *testing.T) {
	type want struct {
		gaveUp bool
		reason retry.WaitReason
		first  time.Duration // the first wait, with the jitter at its top
	}
	tests := []struct {
		name   string
		code   transport.StatusCode
		reason string
		opts   []Option
		want   want
	}{
		{"4001 retried by default", 4001, "invalid api key", nil, want{reason: retry.WaitBackoff, first: time.Second}},
		{"4001 permanent", 4001, "invalid api key", []Option{WithPermanentCloseCodes(4001)}, want{gaveUp: true}},
		{"1008 policy violation slows down", transport.StatusPolicyViolation, "rate limit", nil, want{reason: retry.WaitSlowDown, first: 8 * time.Second}},
		{"1013 try again later slows down", transport.StatusTryAgainLater, "busy", nil, want{reason: retry.WaitSlowDown, first: 8 * time.Second}},
		{"1003 is a protocol fault", transport.StatusUnsupportedData, "text only", nil, want{gaveUp: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t, wsconntest.Default(wsconntest.Close(websocket.StatusCode(tt.code), tt.reason)))
				var rec recorder
				var waits waitLog
				opts := append([]Option{waits.option(), WithStormGuard(retry.StormGuard{}), withRand(fixedRnd(justBelowOne)),
					WithBackoff(retry.Backoff{Initial: time.Second, Max: time.Minute})}, tt.opts...)
				c := dialTest(t, srv, &rec, opts...)
				time.Sleep(time.Minute)
				synctest.Wait()
				causes := lostCauses(&rec)
				if len(causes) == 0 {
					t.Fatalf("no connection lost; %v", rec.Transitions())
				}
				var ce *transport.CloseError
				if !errors.As(causes[0], &ce) || ce.Code != tt.code || ce.Reason != tt.reason {
					t.Fatalf("Lost cause = %v, want a *CloseError %d %q", causes[0], tt.code, tt.reason)
				}
				if tt.want.gaveUp {
					<-c.Done()
					err := c.Err()
					var gu *GaveUpError
					if !errors.As(err, &gu) || !errors.As(err, &ce) || ce.Code != tt.code || ce.Reason != tt.reason {
						t.Fatalf("Err() = %v, want a *GaveUpError with the close code and reason", err)
					}
					if n := dials(srv); n != 1 {
						t.Errorf("dials = %d, want 1: a permanent close is not redialled", n)
					}
					return
				}
				ws := waits.list()
				if len(ws) < 2 {
					t.Fatalf("waits = %v, want the client to keep redialling", ws)
				}
				w := ws[0]
				if w.Reason != tt.want.reason || w.Delay != tt.want.first || w.Failure.Kind != retry.KindClose || w.Failure.Code != tt.code {
					t.Errorf("first wait = %+v, want %v of %v after close %d", w, tt.want.reason, tt.want.first, tt.code)
				}
			})
		})
	}
}

// TestVenueRetryAfter: a venue that refuses the handshake with 429 and
// Retry-After: the client waits what the venue asked, and the wait's
// record says so.
func TestVenueRetryAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		retryAfter := wsconntest.Refuse(http.StatusTooManyRequests, http.Header{"Retry-After": {"30"}})
		srv := startServer(t, wsconntest.Script(wsconntest.Plan{retryAfter}, wsconntest.Plan{retryAfter}))
		var waits waitLog
		var rec recorder
		start := time.Now()
		c := dialTest(t, srv, &rec, waits.option(), WithBackoff(retry.Backoff{Initial: time.Second, Max: time.Minute, Mode: retry.FullJitter}))
		time.Sleep(60 * time.Second)
		waitState(t, c, connfsm.Alive)
		if took := time.Since(start); took < 60*time.Second {
			t.Errorf("Alive after %v, want >= two Retry-After waits of 30s", took)
		}
		var got []string
		for _, w := range waits.list() {
			got = append(got, w.String())
		}
		want := []string{"30s for Retry-After", "30s for Retry-After"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("waits (-want +got):\n%s", diff)
		}
		if w := waits.list()[0]; w.Failure.Kind != retry.KindHandshake || w.Failure.Status != 429 || w.Failure.RetryAfter != 30*time.Second {
			t.Errorf("failure before the first wait = %+v, want a refused handshake 429 with Retry-After 30s", w.Failure)
		}
	})
}

// TestRetryPolicySeesTheFailure: a custom policy gets every failure with its
// kind and attempt number, can defer to the defaults, and decides.
func TestRetryPolicySeesTheFailure(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, wsconntest.Script(
			wsconntest.Plan{wsconntest.Close(4002, "resubscribe")},
			wsconntest.Plan{wsconntest.Close(4009, "account locked")},
		))
		var seen []retry.Failure
		policy := func(f retry.Failure) retry.Decision {
			seen = append(seen, f)
			if f.Kind == retry.KindClose && f.Code == 4009 {
				return retry.Decision{GiveUp: true, Err: errors.New("venue locked the account")}
			}
			if f.Kind == retry.KindClose {
				return retry.Decision{Delay: 3 * time.Second}
			}
			return f.Default()
		}
		var rec recorder
		var waits waitLog
		c := dialTest(t, srv, &rec, waits.option(), WithRetryPolicy(policy), WithStormGuard(retry.StormGuard{}))
		<-c.Done()
		var gu *GaveUpError
		if err := c.Err(); !errors.As(err, &gu) || err.Error() != "session: gave up after 2 attempt(s): venue locked the account" {
			t.Errorf("Err() = %v, want the policy's reason", err)
		}
		var got []string
		for _, f := range seen {
			got = append(got, f.Kind.String()+" "+f.Reason)
		}
		if diff := cmp.Diff([]string{"close resubscribe", "close account locked"}, got); diff != "" {
			t.Errorf("failures seen (-want +got):\n%s", diff)
		}
		if w := waits.list(); len(w) != 1 || w[0].Reason != retry.WaitPolicy || w[0].Delay != 3*time.Second {
			t.Errorf("waits = %+v, want one of 3s by the policy", w)
		}
	})
}

// TestStormGuardWaitIsRecorded: the storm guard holding a dial is a wait
// with its reason, its count and its window.
func TestStormGuardWaitIsRecorded(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, wsconntest.Default(wsconntest.Reset())) // accept, drop
		var rec recorder
		var waits waitLog
		guard := retry.StormGuard{Attempts: 3, Window: time.Minute, MinGap: 5 * time.Second}
		_ = dialTest(t, srv, &rec, waits.option(), WithStormGuard(guard),
			WithBackoff(retry.Backoff{Initial: time.Millisecond, Max: time.Millisecond, Multiplier: 1}))
		time.Sleep(20 * time.Second)
		synctest.Wait()
		var storm []Wait
		for _, w := range waits.list() {
			if w.Reason == retry.WaitStormGuard {
				storm = append(storm, w)
			}
		}
		if len(storm) == 0 {
			t.Fatalf("no storm guard wait among %v", waits.list())
		}
		w := storm[0]
		if w.Dials != 3 || w.Window != time.Minute || w.Delay > 5*time.Second || w.Delay < 4*time.Second {
			t.Errorf("storm guard wait = %+v, want 3 dials within 1m and about 5s", w)
		}
		if s := w.String(); s != w.Delay.String()+" for the storm guard (3 dials within 1m0s)" {
			t.Errorf("String() = %q", s)
		}
	})
}
