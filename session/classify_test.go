package session

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"syscall"
	"testing"

	"github.com/connfsm/connfsm/session/transport"
)

func TestDefaultClassifier(t *testing.T) {
	handshake := func(status int) error {
		return &transport.HandshakeError{Status: status, Err: errors.New("expected 101")}
	}
	tlsWrap := func(err error) error {
		return fmt.Errorf("failed to WebSocket dial: failed to send handshake request: %w",
			&netOpErr{fmt.Errorf("tls: failed to verify certificate: %w", err)})
	}
	tests := []struct {
		name string
		err  error
		want Verdict
	}{
		{"400 Bad Request", handshake(http.StatusBadRequest), Permanent},
		{"401 Unauthorized", handshake(http.StatusUnauthorized), Permanent},
		{"403 Forbidden", handshake(http.StatusForbidden), Permanent},
		{"404 Not Found", handshake(http.StatusNotFound), Permanent},
		{"405 Method Not Allowed", handshake(http.StatusMethodNotAllowed), Permanent},
		{"410 Gone", handshake(http.StatusGone), Permanent},
		{"418 other 4xx", handshake(http.StatusTeapot), Permanent},
		{"408 Request Timeout", handshake(http.StatusRequestTimeout), Transient},
		{"429 Too Many Requests", handshake(http.StatusTooManyRequests), Transient},
		{"500 Internal Server Error", handshake(http.StatusInternalServerError), Transient},
		{"502 Bad Gateway", handshake(http.StatusBadGateway), Transient},
		{"503 Service Unavailable", handshake(http.StatusServiceUnavailable), Transient},
		{"200 OK: not a WebSocket endpoint", handshake(http.StatusOK), Permanent},
		{"301 Moved Permanently", handshake(http.StatusMovedPermanently), Permanent},
		{"wrapped handshake error", fmt.Errorf("wsconn: dial: %w", handshake(http.StatusNotFound)), Permanent},
		{"wrapped 503", fmt.Errorf("outer: %w", handshake(http.StatusServiceUnavailable)), Transient},
		{"unknown authority", tlsWrap(x509.UnknownAuthorityError{}), Permanent},
		{"hostname mismatch", tlsWrap(x509.HostnameError{Host: "feed.test"}), Permanent},
		{"expired certificate", tlsWrap(x509.CertificateInvalidError{Reason: x509.Expired}), Permanent},
		{"certificate verification", tlsWrap(&tls.CertificateVerificationError{Err: errors.New("bad chain")}), Permanent},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, Transient},
		{"connection reset", fmt.Errorf("wsconn: read: %w", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}), Transient},
		{"DNS failure", &net.DNSError{Err: "no such host", Name: "feed.test", IsNotFound: true}, Transient},
		{"EOF", io.ErrUnexpectedEOF, Transient},
		{"deadline exceeded", context.DeadlineExceeded, Transient},
		{"handshake timeout", fmt.Errorf("%w after 10s: %w", ErrHandshakeTimeout, context.DeadlineExceeded), Transient},
		{"pong timeout", fmt.Errorf("%w: no pong within 20s", ErrPongTimeout), Transient},
		{"other TLS error", tlsWrap(errors.New("tls: handshake failure")), Transient},
		{"nil", nil, Transient},
		{"redirect loop", fmt.Errorf("wsconn: dial: %w", fmt.Errorf("%w: redirect loop", ErrTooManyRedirects)), Permanent},
		{"bad URL from the credentials", fmt.Errorf("wsconn: credentials: %w", &ConfigError{Problems: []error{errors.New("URL")}}), Permanent},
		{"idle timeout", fmt.Errorf("%w: 30s", ErrIdleTimeout), Transient},
		{"close 1000 normal closure", closeErr(1000), Transient},
		{"close 1001 going away", closeErr(1001), Transient},
		{"close 1002 protocol error", closeErr(1002), Permanent},
		{"close 1003 unsupported data", closeErr(1003), Permanent},
		{"close 1007 invalid payload data", closeErr(1007), Permanent},
		{"close 1008 policy violation", closeErr(1008), Transient},
		{"close 1009 message too big", closeErr(1009), Transient},
		{"close 1011 internal error", closeErr(1011), Transient},
		{"close 1012 service restart", closeErr(1012), Transient},
		{"close 1013 try again later", closeErr(1013), Transient},
		{"close 1014 bad gateway", closeErr(1014), Transient},
		{"close 3000 unauthorized", closeErr(3000), Permanent},
		{"close 3003 forbidden", closeErr(3003), Permanent},
		{"close 3008 timeout", closeErr(3008), Transient},
		{"close 4001, the venue's", closeErr(4001), Transient},
		{"close 4999, the venue's", closeErr(4999), Transient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := DefaultClassifier(tt.err); got != tt.want {
				t.Errorf("DefaultClassifier(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func closeErr(code transport.StatusCode) error {
	return fmt.Errorf("outer: %w", &transport.CloseError{Code: code})
}

// netOpErr stands for the transport layers between the TLS error and the
// dial error; it only wraps.
type netOpErr struct{ err error }

func (e *netOpErr) Error() string { return "Get \"https://feed.test\": " + e.err.Error() }
func (e *netOpErr) Unwrap() error { return e.err }

func TestClassifyingPolicy(t *testing.T) {
	errAuth := errors.New("venue: session expired")
	// A classifier that decides a venue-specific failure and leaves the rest
	// to the default rules.
	venue := func(err error) Verdict {
		if errors.Is(err, errAuth) {
			return Permanent
		}
		return DefaultClassifier(err)
	}
	// A classifier that replaces the defaults entirely.
	alwaysRetry := func(error) Verdict { return Transient }
	tests := []struct {
		name     string
		classify func(error) Verdict // nil: the default policy
		err      error
		want     Verdict
	}{
		{"default: 404 is permanent", nil, &transport.HandshakeError{Status: 404}, Permanent},
		{"default: unknown error is transient", nil, errAuth, Transient},
		{"custom: its own failure", venue, fmt.Errorf("wsconn: read: %w", errAuth), Permanent},
		{"custom deferring to the defaults: 404", venue, &transport.HandshakeError{Status: 404}, Permanent},
		{"custom deferring to the defaults: 503", venue, &transport.HandshakeError{Status: 503}, Transient},
		{"custom replacing the defaults: 404", alwaysRetry, &transport.HandshakeError{Status: 404}, Transient},
		{"custom replacing the defaults: TLS", alwaysRetry, x509.UnknownAuthorityError{}, Transient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaultConfig()
			if tt.classify != nil {
				WithRetryPolicy(func(f Failure) Decision {
					if tt.classify(f.Err) == Permanent {
						return Decision{GiveUp: true}
					}
					return f.Retry()
				})(&cfg)
			}
			c := &Client{cfg: cfg.clientSettings()}
			d, err := c.decide(Failure{Kind: KindLost, Err: tt.err, Attempt: 1, cfg: c.cfg.retry})
			if err != nil {
				t.Fatal(err)
			}
			if got := map[bool]Verdict{false: Transient, true: Permanent}[d.GiveUp]; got != tt.want {
				t.Errorf("decision on %v = %+v, want %v", tt.err, d, tt.want)
			}
		})
	}
}

func TestVerdictString(t *testing.T) {
	for v, want := range map[Verdict]string{Transient: "transient", Permanent: "permanent"} {
		if got := v.String(); got != want {
			t.Errorf("Verdict(%d).String() = %q, want %q", int(v), got, want)
		}
	}
}
