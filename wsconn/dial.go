package wsconn

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/connfsm/connfsm"
)

// dialTask is Connecting's task: one handshake attempt, bounded by the
// handshake timeout, once the dial gate (if any) let it through. It emits
// Connected with the new connection, or DialFailed with the cause. If
// Connecting is left meanwhile (Close), the attempt is cancelled; a
// connection that still arrives is disposed by the lifecycle, never
// leaked.
func (c *Client) dialTask(ctx context.Context, emit emitFn) error {
	pass := c.admit(ctx) // the dial gate (WithDialGate), before the handshake's timeout starts
	defer pass.release()
	if err := pass.failure(); err != nil {
		if ctx.Err() == nil {
			emit(connfsm.DialFailed, err)
		}
		return nil
	}
	dctx, cancel := context.WithTimeoutCause(ctx, c.cfg.handshakeTimeout, ErrHandshakeTimeout)
	defer cancel()
	var raw *rawConn
	if c.ownTransport {
		raw = new(rawConn)
		dctx = context.WithValue(dctx, rawConnKey{}, raw)
	}
	a := new(attempt)
	dctx = context.WithValue(pass.trace(dctx), attemptKey{}, a)
	// The timeout and a Close cut a handshake short even while
	// coder/websocket reads a refused 101 answer under its own timer.
	stop := context.AfterFunc(dctx, a.abort)
	defer stop()
	t, err := c.target(dctx)
	var (
		conn *websocket.Conn
		resp *http.Response
	)
	if err == nil {
		c.dialMade.Store(true)
		conn, resp, err = websocket.Dial(dctx, t.url, t.opts)
		if !stop() && err == nil {
			conn.CloseNow() // its socket was closed as it came up
			err = context.Cause(dctx)
		}
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil // Connecting was left; nothing to report
		}
		secrets := append(urlSecrets(t.base), a.secrets()...)
		if t.u != t.base {
			secrets = append(secrets, urlSecrets(t.u)...)
		}
		emit(connfsm.DialFailed, dialError(dctx, newScrubber(secrets).scrub(err), resp, c.cfg.handshakeTimeout))
		return nil
	}
	conn.SetReadLimit(c.cfg.readLimit)
	emit(connfsm.Connected, newSession(conn, raw.get(), c.inbound))
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

// dialOptions returns the handshake's options for cfg: the shared
// defaultDialOptions unless cfg sets any.
func dialOptions(cfg *config) *websocket.DialOptions {
	own := cfg.tlsConfig == nil && !cfg.proxySet
	if cfg.httpClient == nil && own && cfg.header == nil && cfg.subprotocols == nil && cfg.compression == websocket.CompressionDisabled {
		return defaultDialOptions()
	}
	hc := cfg.httpClient
	switch {
	case hc == nil && own:
		hc = defaultHTTPClient()
	case hc == nil:
		hc = transportClient(cfg)
	}
	return &websocket.DialOptions{
		HTTPClient:      handshakeClient(hc),
		HTTPHeader:      cfg.header,
		Subprotocols:    cfg.subprotocols,
		CompressionMode: cfg.compression,
	}
}

// defaultDialOptions are the handshake options of every client dialed
// without WithHTTPClient, WithHeader, WithSubprotocols or WithCompression.
// Nothing writes them: coder/websocket dials with a copy, and a dial with
// credentials' headers copies them first (target).
var defaultDialOptions = sync.OnceValue(func() *websocket.DialOptions {
	return &websocket.DialOptions{HTTPClient: handshakeClient(defaultHTTPClient())}
})
