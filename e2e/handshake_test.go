package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/wsconn"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// TestHandshakeStatus answers the first handshake with an HTTP status: the
// client gives up at once on a permanent one and honours Retry-After on a
// transient one, then connects when the server accepts.
func TestHandshakeStatus(t *testing.T) {
	t.Parallel()
	tests := []struct {
		status     int
		retryAfter int // seconds; 0 sends no Retry-After
		permanent  bool
	}{
		{status: http.StatusUnauthorized, permanent: true},
		{status: http.StatusForbidden, permanent: true},
		{status: http.StatusNotFound, permanent: true},
		{status: http.StatusServiceUnavailable, retryAfter: 1},
		{status: http.StatusTooManyRequests, retryAfter: 1},
	}
	for _, tt := range tests {
		t.Run(strconv.Itoa(tt.status), func(t *testing.T) {
			t.Parallel()
			var (
				mu       sync.Mutex
				arrivals []time.Time
			)
			srv := newVenue(t, false, wsconntest.Default(wsconntest.Handshake(func(w http.ResponseWriter, _ *http.Request) bool {
				mu.Lock()
				arrivals = append(arrivals, time.Now())
				first := len(arrivals) == 1
				mu.Unlock()
				if !first && !tt.permanent {
					return false // accept the retry
				}
				if tt.retryAfter > 0 {
					w.Header().Set("Retry-After", strconv.Itoa(tt.retryAfter))
				}
				w.WriteHeader(tt.status)
				return true
			}), wsconntest.Echo()))
			rec, msgs := newRecorder(), make(messages, 16)
			opts := append(clientOptions(rec, msgs), wsconn.WithHTTPClient(srv.Client()))
			ctx, cancel := context.WithTimeout(t.Context(), patience)
			defer cancel()

			start := time.Now()
			c, err := wsconn.Dial(ctx, srv.URL, opts...)
			elapsed := time.Since(start)
			f, _ := nth(rec, dialFailed, 1)
			var he *wsconn.HandshakeError
			if !errors.As(f.cause, &he) || he.Status != tt.status {
				t.Errorf("DialFailed cause = %v, want a *HandshakeError with status %d", f.cause, tt.status)
			}
			mu.Lock()
			got := append([]time.Time(nil), arrivals...)
			mu.Unlock()

			if tt.permanent {
				if err == nil {
					closeClient(t, c)
					t.Fatalf("Dial succeeded, want HTTP %d to be permanent", tt.status)
				}
				var gu *wsconn.GaveUpError
				if !errors.As(err, &gu) || !errors.As(err, &he) || he.Status != tt.status {
					t.Errorf("Dial error = %v, want a *GaveUpError wrapping a *HandshakeError with status %d", err, tt.status)
				}
				if v := wsconn.DefaultClassifier(err); v != wsconn.Permanent {
					t.Errorf("DefaultClassifier(%v) = %v, want permanent", err, v)
				}
				if len(got) != 1 {
					t.Errorf("server saw %d handshakes, want 1: a permanent failure is not retried", len(got))
				}
				if elapsed > margin {
					t.Errorf("Dial returned after %v, want within %v: nothing to wait for", elapsed, margin)
				}
				if diff := cmp.Diff([]string{dialFailed, gaveUp}, rec.Transitions()); diff != "" {
					t.Errorf("transitions (-want +got):\n%s", diff)
				}
				return
			}

			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			t.Cleanup(func() { closeClient(t, c) })
			wantDelay := time.Duration(tt.retryAfter) * time.Second
			if he != nil && he.RetryAfter != wantDelay {
				t.Errorf("HandshakeError.RetryAfter = %v, want %v", he.RetryAfter, wantDelay)
			}
			if v := wsconn.DefaultClassifier(f.cause); v != wsconn.Transient {
				t.Errorf("DefaultClassifier(%v) = %v, want transient", f.cause, v)
			}
			if len(got) != 2 {
				t.Fatalf("server saw %d handshakes, want 2", len(got))
			}
			if gap := got[1].Sub(got[0]); gap < wantDelay || gap > wantDelay+margin {
				t.Errorf("retry %v after the refusal, want in [%v, %v] (Retry-After)", gap, wantDelay, wantDelay+margin)
			}
			if d := c.Stats().NextDelay; d < wantDelay {
				t.Errorf("Stats.NextDelay = %v, want >= %v", d, wantDelay)
			}
			if diff := cmp.Diff([]string{dialFailed, retryDue, connected}, rec.Transitions()); diff != "" {
				t.Errorf("transitions (-want +got):\n%s", diff)
			}
			msgs.echo(t, c, "accepted at last")
		})
	}
}

// TestTLS dials a TLS server whose certificate is signed by a test CA: a
// client that does not trust it gives up at once; one that does connects.
func TestTLS(t *testing.T) {
	t.Parallel()
	// The first verification against the system roots loads and parses
	// them, which under the race detector can take longer than the
	// handshake timeout and turn the first attempt into a (transient)
	// timeout. Load them before the clock starts.
	if _, err := x509.SystemCertPool(); err != nil {
		t.Fatalf("system roots: %v", err)
	}
	srv := newVenue(t, true)
	tests := []struct {
		name    string
		client  *http.Client // nil: the default client, system roots only
		connect bool
	}{
		{name: "untrusted", client: nil},
		{name: "trusted", client: srv.Client(), connect: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec, msgs := newRecorder(), make(messages, 16)
			opts := clientOptions(rec, msgs)
			if tt.client != nil {
				opts = append(opts, wsconn.WithHTTPClient(tt.client))
			}
			url := srv.URL
			if url[:4] != "wss:" {
				t.Fatalf("URL %q, want wss", url)
			}
			ctx, cancel := context.WithTimeout(t.Context(), patience)
			defer cancel()
			start := time.Now()
			c, err := wsconn.Dial(ctx, url, opts...)
			elapsed := time.Since(start)

			if tt.connect {
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				t.Cleanup(func() { closeClient(t, c) })
				msgs.echo(t, c, "over TLS")
				if diff := cmp.Diff([]string{connected}, rec.Transitions()); diff != "" {
					t.Errorf("transitions (-want +got):\n%s", diff)
				}
				return
			}
			if err == nil {
				closeClient(t, c)
				t.Fatal("Dial succeeded against an untrusted certificate")
			}
			var (
				gu       *wsconn.GaveUpError
				verify   *tls.CertificateVerificationError
				unknownA x509.UnknownAuthorityError
			)
			if !errors.As(err, &gu) {
				t.Errorf("Dial error = %v, want a *GaveUpError", err)
			}
			if !errors.As(err, &verify) || !errors.As(err, &unknownA) {
				t.Errorf("Dial error = %v, want a certificate verification error (unknown authority)", err)
			}
			if v := wsconn.DefaultClassifier(err); v != wsconn.Permanent {
				t.Errorf("DefaultClassifier(%v) = %v, want permanent", err, v)
			}
			if elapsed > margin {
				t.Errorf("Dial returned after %v, want within %v: a bad certificate is not retried", elapsed, margin)
			}
			if diff := cmp.Diff([]string{dialFailed, gaveUp}, rec.Transitions()); diff != "" {
				t.Errorf("transitions (-want +got):\n%s", diff)
			}
		})
	}
}

// TestHandshakeTimeout dials a server that accepts TCP and never answers the
// upgrade: the attempt fails when the handshake timeout expires, not later.
func TestHandshakeTimeout(t *testing.T) {
	t.Parallel()
	srv := newVenue(t, false, wsconntest.Default(wsconntest.Stall()))
	rec, msgs := newRecorder(), make(messages, 16)
	opts := append(clientOptions(rec, msgs),
		wsconn.WithHandshakeTimeout(handshakeTimeout),
		// One attempt, so Dial reports its failure.
		wsconn.WithBackoff(wsconn.Backoff{Initial: backoffInitial, Max: backoffMax, Multiplier: 2, MaxAttempts: 1}))
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()

	start := time.Now()
	c, err := wsconn.Dial(ctx, srv.URL+"/", opts...)
	elapsed := time.Since(start)
	if err == nil {
		closeClient(t, c)
		t.Fatal("Dial succeeded against a server that never answers")
	}
	if srv.Stats().Handshakes == 0 {
		t.Error("the venue saw no handshake request: the timeout was not the handshake's")
	}
	f, _ := nth(rec, dialFailed, 1)
	if d := f.at.Sub(start); d < handshakeTimeout || d > handshakeTimeout+margin {
		t.Errorf("DialFailed %v after Dial, want in [%v, %v]", d, handshakeTimeout, handshakeTimeout+margin)
	}
	if !errors.Is(f.cause, wsconn.ErrHandshakeTimeout) {
		t.Errorf("DialFailed cause = %v, want ErrHandshakeTimeout", f.cause)
	}
	var gu *wsconn.GaveUpError
	if !errors.As(err, &gu) || !errors.Is(err, wsconn.ErrRetriesExhausted) || !errors.Is(err, wsconn.ErrHandshakeTimeout) {
		t.Errorf("Dial error = %v, want a *GaveUpError wrapping ErrRetriesExhausted and ErrHandshakeTimeout", err)
	}
	if elapsed > handshakeTimeout+margin {
		t.Errorf("Dial returned after %v, want within %v", elapsed, handshakeTimeout+margin)
	}
	if diff := cmp.Diff([]string{dialFailed, gaveUp}, rec.Transitions()); diff != "" {
		t.Errorf("transitions (-want +got):\n%s", diff)
	}
}
