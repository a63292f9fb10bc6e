package wsconn

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/coder/websocket"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/session"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/transport"
)

// option makes a WebSocket option: set runs on the client's transport,
// once every option has been read.
func option(set func(*wsTransport) error) Option {
	return session.TransportOption(func(t transport.Transport) error {
		wt, ok := t.(*wsTransport)
		if !ok {
			return fmt.Errorf("a WebSocket option given to a %T transport", t)
		}
		return set(wt.own())
	})
}

// WithHeader adds HTTP headers to every handshake. Header values are never
// logged. A name that is not an HTTP token, or a value with a control
// character, which net/http would refuse on every handshake, makes Dial
// fail with a *ConfigError naming the header.
func WithHeader(h http.Header) Option {
	return option(func(t *wsTransport) error { t.header = canonical(h); return nil })
}

// canonical returns a copy of h under canonical names, so that a name
// spelled two ways is one header, which credentials' headers replace.
func canonical(h http.Header) http.Header {
	if h == nil {
		return nil
	}
	out := make(http.Header, len(h))
	for name, values := range h {
		for _, v := range values {
			out.Add(name, v)
		}
	}
	return out
}

// WithSubprotocols sets the subprotocols offered in the handshake. Each
// must be an HTTP token, offered once (RFC 6455 4.1): otherwise Dial
// fails with a *ConfigError naming it.
func WithSubprotocols(p ...string) Option {
	return option(func(t *wsTransport) error { t.subprotocols = append([]string(nil), p...); return nil })
}

// WithCompression sets the permessage-deflate mode (default disabled).
func WithCompression(m websocket.CompressionMode) Option {
	return option(func(t *wsTransport) error { t.compression = m; return nil })
}

// WithHTTPClient sets the HTTP client of the handshakes: an in-memory
// transport in tests, or a client with its own roots or proxy. Its
// Timeout, if set, also bounds each handshake. A nil client is an error.
//
// A refused handshake may leave an idle socket in its pool: closing those
// is the caller's (CloseIdleConnections). The default client keeps none,
// and lets each connection's socket be closed directly. With a client of
// the caller's, reads use a cancellable context instead, which costs
// coder/websocket a few allocations per message.
func WithHTTPClient(h *http.Client) Option {
	return option(func(t *wsTransport) error {
		if h == nil {
			return errors.New("HTTPClient: nil")
		}
		t.httpClient = h
		return nil
	})
}

// WithClassifier sets a retry policy that only says which failures are
// permanent; the others are retried as Failure.Retry says.
//
// Deprecated: a client has one way to decide retries. Use WithRetryPolicy
// with a policy that returns Decision{GiveUp: true} for the failures fn
// calls permanent, and f.Retry() for the others.
func WithClassifier(fn func(err error) Verdict) Option {
	if fn == nil {
		return option(func(*wsTransport) error { return errors.New("classifier: nil func") })
	}
	return session.WithRetryPolicy(func(f Failure) Decision {
		if fn(f.Err) == retry.Permanent {
			return Decision{GiveUp: true}
		}
		return f.Retry()
	})
}

// OnTransition adds an observer of transitions only.
//
// Deprecated: a client has one observer. Use OnRecord and keep the
// records whose Kind is fsm.RecordTransition.
func OnTransition(fn func(ctx context.Context, r fsm.Record[connfsm.State, connfsm.Event])) Option {
	if fn == nil {
		return option(func(*wsTransport) error { return errors.New("OnTransition: nil func") })
	}
	return session.OnRecord(func(ctx context.Context, r fsm.Record[connfsm.State, connfsm.Event]) {
		if r.Kind == fsm.RecordTransition {
			fn(ctx, r)
		}
	})
}
