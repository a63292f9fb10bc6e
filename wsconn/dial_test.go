package wsconn

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"
)

// trackedBody records whether it was closed.
type trackedBody struct {
	io.Reader
	closed bool
}

func (b *trackedBody) Close() error { b.closed = true; return nil }

func TestDialError(t *testing.T) {
	errTransport := errors.New("failed to WebSocket dial: expected handshake response status code 101")
	live := context.Background()
	timedOut, cancel := context.WithTimeoutCause(context.Background(), 0, ErrHandshakeTimeout)
	defer cancel()
	<-timedOut.Done()

	t.Run("refused handshake", func(t *testing.T) {
		body := &trackedBody{Reader: strings.NewReader("busy")}
		resp := &http.Response{StatusCode: 503, Header: http.Header{"Retry-After": {"7"}}, Body: body}
		err := dialError(live, errTransport, resp)
		var he *HandshakeError
		if !errors.As(err, &he) {
			t.Fatalf("dialError = %v, want a *HandshakeError", err)
		}
		if he.Status != 503 || he.RetryAfter != 7*time.Second || !errors.Is(err, errTransport) {
			t.Errorf("HandshakeError = %+v, want status 503, RetryAfter 7s, wrapping the transport error", he)
		}
		if !body.closed {
			t.Error("response body not closed")
		}
		if got, want := err.Error(), "session: handshake refused with HTTP 503: "+errTransport.Error(); got != want {
			t.Errorf("message %q, want %q", got, want)
		}
	})
	t.Run("refused handshake without a body", func(t *testing.T) {
		err := dialError(live, errTransport, &http.Response{StatusCode: 401, Header: http.Header{}})
		var he *HandshakeError
		if !errors.As(err, &he) || he.Status != 401 || he.RetryAfter != 0 {
			t.Errorf("dialError = %#v, want a *HandshakeError with status 401 and no RetryAfter", err)
		}
	})
	t.Run("handshake timeout", func(t *testing.T) {
		err := dialError(timedOut, context.DeadlineExceeded, nil)
		// The client names the timeout (session's dial task): the
		// transport's error is passed on as it is.
		if err != context.DeadlineExceeded {
			t.Errorf("dialError = %v, want the transport's error as it is", err)
		}
	})
	t.Run("network error", func(t *testing.T) {
		netErr := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
		err := dialError(live, netErr, nil)
		if !errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, ErrHandshakeTimeout) {
			t.Errorf("dialError = %v, want it to wrap the network error only", err)
		}
		var he *HandshakeError
		if errors.As(err, &he) {
			t.Errorf("dialError = %v, a network error is not a refused handshake", err)
		}
	})
	t.Run("a 101 answer that failed later is not a refusal", func(t *testing.T) {
		err := dialError(live, errTransport, &http.Response{StatusCode: http.StatusSwitchingProtocols})
		var he *HandshakeError
		if errors.As(err, &he) || !errors.Is(err, errTransport) {
			t.Errorf("dialError = %v, want the transport error, not a *HandshakeError", err)
		}
	})
}
