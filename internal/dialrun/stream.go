package dialrun

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/connfsm/connfsm/session"
	"github.com/connfsm/connfsm/tcpconn"
	"github.com/connfsm/connfsm/tcpconn/framing"
)

// Stream is what a framed TCP or TLS dial needs beside Config: the
// address (tcp://HOST:PORT or tls://HOST:PORT), its framing, and the roots
// tls:// trusts.
type Stream struct {
	URL     string
	Framing framing.Framer // nil: framing.Line
	Roots   *x509.CertPool // nil: the system's (LoadRoots)
}

// Dial starts a tcpconn client of s.URL with opts and s's settings.
func (s Stream) Dial(ctx context.Context, opts ...session.Option) (Client, error) {
	if s.Framing != nil {
		opts = append(opts, tcpconn.WithFraming(s.Framing))
	}
	if s.Roots != nil {
		opts = append(opts, tcpconn.WithTLSConfig(&tls.Config{RootCAs: s.Roots, MinVersion: tls.VersionTLS12}))
	}
	c, err := tcpconn.Dial(ctx, s.URL, opts...)
	if err != nil {
		return nil, err // a nil *session.Client must not become a non-nil Client
	}
	return c, nil
}

// CheckLogin returns why login, sent first on every connection, cannot be
// a frame of f when rawURL is a stream's (tcp:// or tls://), or nil: every
// connection's sync would fail on it. (The client checks the
// subscriptions and the heartbeat itself.)
func CheckLogin(rawURL string, f framing.Framer, login string) error {
	scheme, _, _ := strings.Cut(strings.ToLower(rawURL), "://")
	ck, ok := f.(framing.Checker)
	if !ok || login == "" || (scheme != "tcp" && scheme != "tls") {
		return nil
	}
	if err := ck.Check([]byte(login)); err != nil {
		return fmt.Errorf("-login: %w", err)
	}
	return nil
}
