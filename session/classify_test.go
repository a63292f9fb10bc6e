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

	"github.com/connfsm/connfsm/session/retry"
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
		want retry.Verdict
	}{
		{"400 Bad Request", handshake(http.StatusBadRequest), retry.Permanent},
		{"401 Unauthorized", handshake(http.StatusUnauthorized), retry.Permanent},
		{"403 Forbidden", handshake(http.StatusForbidden), retry.Permanent},
		{"404 Not Found", handshake(http.StatusNotFound), retry.Permanent},
		{"405 Method Not Allowed", handshake(http.StatusMethodNotAllowed), retry.Permanent},
		{"410 Gone", handshake(http.StatusGone), retry.Permanent},
		{"418 other 4xx", handshake(http.StatusTeapot), retry.Permanent},
		{"408 Request Timeout", handshake(http.StatusRequestTimeout), retry.Transient},
		{"429 Too Many Requests", handshake(http.StatusTooManyRequests), retry.Transient},
		{"500 Internal Server Error", handshake(http.StatusInternalServerError), retry.Transient},
		{"502 Bad Gateway", handshake(http.StatusBadGateway), retry.Transient},
		{"503 Service Unavailable", handshake(http.StatusServiceUnavailable), retry.Transient},
		{"200 OK: not a WebSocket endpoint", handshake(http.StatusOK), retry.Permanent},
		{"301 Moved Permanently", handshake(http.StatusMovedPermanently), retry.Permanent},
		{"wrapped handshake error", fmt.Errorf("wsconn: dial: %w", handshake(http.StatusNotFound)), retry.Permanent},
		{"wrapped 503", fmt.Errorf("outer: %w", handshake(http.StatusServiceUnavailable)), retry.Transient},
		{"unknown authority", tlsWrap(x509.UnknownAuthorityError{}), retry.Permanent},
		{"hostname mismatch", tlsWrap(x509.HostnameError{Host: "feed.test"}), retry.Permanent},
		{"expired certificate", tlsWrap(x509.CertificateInvalidError{Reason: x509.Expired}), retry.Permanent},
		{"certificate verification", tlsWrap(&tls.CertificateVerificationError{Err: errors.New("bad chain")}), retry.Permanent},
		{"connection refused", &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}, retry.Transient},
		{"connection reset", fmt.Errorf("wsconn: read: %w", &net.OpError{Op: "read", Net: "tcp", Err: syscall.ECONNRESET}), retry.Transient},
		{"DNS failure", &net.DNSError{Err: "no such host", Name: "feed.test", IsNotFound: true}, retry.Transient},
		{"EOF", io.ErrUnexpectedEOF, retry.Transient},
		{"deadline exceeded", context.DeadlineExceeded, retry.Transient},
		{"handshake timeout", fmt.Errorf("%w after 10s: %w", ErrHandshakeTimeout, context.DeadlineExceeded), retry.Transient},
		{"pong timeout", fmt.Errorf("%w: no pong within 20s", ErrPongTimeout), retry.Transient},
		{"other TLS error", tlsWrap(errors.New("tls: handshake failure")), retry.Transient},
		{"nil", nil, retry.Transient},
		{"redirect loop", fmt.Errorf("wsconn: dial: %w", fmt.Errorf("%w: redirect loop", ErrTooManyRedirects)), retry.Permanent},
		{"bad URL from the credentials", fmt.Errorf("wsconn: credentials: %w", &transport.ConfigError{Problems: []error{errors.New("URL")}}), retry.Permanent},
		{"idle timeout", fmt.Errorf("%w: 30s", ErrIdleTimeout), retry.Transient},
		{"close 1000 normal closure", closeErr(1000), retry.Transient},
		{"close 1001 going away", closeErr(1001), retry.Transient},
		{"close 1002 protocol error", closeErr(1002), retry.Permanent},
		{"close 1003 unsupported data", closeErr(1003), retry.Permanent},
		{"close 1007 invalid payload data", closeErr(1007), retry.Permanent},
		{"close 1008 policy violation", closeErr(1008), retry.Transient},
		{"close 1009 message too big", closeErr(1009), retry.Transient},
		{"close 1011 internal error", closeErr(1011), retry.Transient},
		{"close 1012 service restart", closeErr(1012), retry.Transient},
		{"close 1013 try again later", closeErr(1013), retry.Transient},
		{"close 1014 bad gateway", closeErr(1014), retry.Transient},
		{"close 3000 unauthorized", closeErr(3000), retry.Permanent},
		{"close 3003 forbidden", closeErr(3003), retry.Permanent},
		{"close 3008 timeout", closeErr(3008), retry.Transient},
		{"close 4001, the venue's", closeErr(4001), retry.Transient},
		{"close 4999, the venue's", closeErr(4999), retry.Transient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := retry.DefaultClassifier(tt.err); got != tt.want {
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
	venue := func(err error) retry.Verdict {
		if errors.Is(err, errAuth) {
			return retry.Permanent
		}
		return retry.DefaultClassifier(err)
	}
	// A classifier that replaces the defaults entirely.
	alwaysRetry := func(error) retry.Verdict { return retry.Transient }
	tests := []struct {
		name     string
		classify func(error) retry.Verdict // nil: the default policy
		err      error
		want     retry.Verdict
	}{
		{"default: 404 is permanent", nil, &transport.HandshakeError{Status: 404}, retry.Permanent},
		{"default: unknown error is transient", nil, errAuth, retry.Transient},
		{"custom: its own failure", venue, fmt.Errorf("wsconn: read: %w", errAuth), retry.Permanent},
		{"custom deferring to the defaults: 404", venue, &transport.HandshakeError{Status: 404}, retry.Permanent},
		{"custom deferring to the defaults: 503", venue, &transport.HandshakeError{Status: 503}, retry.Transient},
		{"custom replacing the defaults: 404", alwaysRetry, &transport.HandshakeError{Status: 404}, retry.Transient},
		{"custom replacing the defaults: TLS", alwaysRetry, x509.UnknownAuthorityError{}, retry.Transient},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := defaultConfig()
			if tt.classify != nil {
				WithRetryPolicy(func(f retry.Failure) retry.Decision {
					if tt.classify(f.Err) == retry.Permanent {
						return retry.Decision{GiveUp: true}
					}
					return f.Retry()
				})(&cfg)
			}
			c := &Client{cfg: cfg.clientSettings()}
			d, err := c.decide(retry.Failure{Kind: retry.KindLost, Err: tt.err, Attempt: 1})
			if err != nil {
				t.Fatal(err)
			}
			if got := map[bool]retry.Verdict{false: retry.Transient, true: retry.Permanent}[d.GiveUp]; got != tt.want {
				t.Errorf("decision on %v = %+v, want %v", tt.err, d, tt.want)
			}
		})
	}
}

func TestVerdictString(t *testing.T) {
	for v, want := range map[retry.Verdict]string{retry.Transient: "transient", retry.Permanent: "permanent"} {
		if got := v.String(); got != want {
			t.Errorf("Verdict(%d).String() = %q, want %q", int(v), got, want)
		}
	}
}
