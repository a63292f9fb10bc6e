package wsconn

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/coder/websocket"

	"github.com/connfsm/connfsm"
)

// dialTask is Connecting's task: one handshake attempt, bounded by the
// handshake timeout. It emits Connected with the new connection, or
// DialFailed with the cause. If Connecting is left meanwhile (Close), the
// attempt is cancelled; a connection that still arrives is disposed by the
// lifecycle, never leaked.
func (c *Client) dialTask(ctx context.Context, emit emitFn) error {
	dctx, cancel := context.WithTimeoutCause(ctx, c.cfg.handshakeTimeout, ErrHandshakeTimeout)
	defer cancel()
	var raw *rawConn
	if c.ownTransport {
		raw = new(rawConn)
		dctx = context.WithValue(dctx, rawConnKey{}, raw)
	}
	a := new(attempt)
	dctx = context.WithValue(dctx, attemptKey{}, a)
	// The timeout and a Close cut a handshake short even while
	// coder/websocket reads a refused 101 answer under its own timer.
	stop := context.AfterFunc(dctx, a.abort)
	conn, resp, err := websocket.Dial(dctx, c.url, c.dialOpts)
	if !stop() && err == nil {
		conn.CloseNow() // its socket was closed as it came up
		err = context.Cause(dctx)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil // Connecting was left; nothing to report
		}
		sc := newScrubber(append(urlSecrets(c.u), a.secrets()...))
		emit(connfsm.DialFailed, dialError(dctx, sc.scrub(err), resp, c.cfg.handshakeTimeout))
		return nil
	}
	conn.SetReadLimit(c.cfg.readLimit)
	emit(connfsm.Connected, newSession(conn, raw.get()))
	return nil
}

func dialError(dctx context.Context, err error, resp *http.Response, timeout time.Duration) error {
	if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
		if resp.Body != nil {
			_ = resp.Body.Close()
		}
		return &HandshakeError{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now()), Err: err}
	}
	if errors.Is(context.Cause(dctx), ErrHandshakeTimeout) {
		return fmt.Errorf("%w after %v: %w", ErrHandshakeTimeout, timeout, err)
	}
	return fmt.Errorf("wsconn: dial: %w", err)
}

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	secs, err := strconv.ParseInt(v, 10, 64)
	if errors.Is(err, strconv.ErrRange) && secs > 0 {
		secs, err = math.MaxInt64, nil // too many digits: still "wait long"
	}
	if err == nil {
		if secs <= 0 {
			return 0
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second) // a day at most: a typo must not park the client for years
		}
		return time.Duration(secs) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return min(t.Sub(now), 24*time.Hour)
	}
	return 0
}

// DefaultClassifier is the default failure classification. Permanent:
// handshake status 400, 401, 403, 404, 405, 410 (and any other 4xx but 408
// and 429), a 2xx or 3xx answer that is not an upgrade (not a WebSocket
// endpoint), a redirect loop (ErrTooManyRedirects), and TLS certificate
// verification failures. Everything else is
// transient: network errors, timeouts, 408, 429, 5xx, lost connections.
func DefaultClassifier(err error) Verdict {
	var he *HandshakeError
	if errors.As(err, &he) {
		switch s := he.Status; {
		case s == http.StatusRequestTimeout, s == http.StatusTooManyRequests, s >= 500:
			return Transient
		default:
			return Permanent
		}
	}
	if errors.Is(err, ErrTooManyRedirects) {
		return Permanent
	}
	var (
		unknownAuthority x509.UnknownAuthorityError
		hostname         x509.HostnameError
		invalid          x509.CertificateInvalidError
		verification     *tls.CertificateVerificationError
	)
	if errors.As(err, &unknownAuthority) || errors.As(err, &hostname) ||
		errors.As(err, &invalid) || errors.As(err, &verification) {
		return Permanent
	}
	return Transient
}

func (c *Client) verdict(err error) Verdict {
	if c.cfg.classify != nil {
		return c.cfg.classify(err)
	}
	return DefaultClassifier(err)
}
