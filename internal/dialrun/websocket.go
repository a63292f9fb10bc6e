package dialrun

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/connfsm/connfsm/session"
	"github.com/connfsm/connfsm/wsconn"
)

// WebSocket is the transport of ws:// and wss:// URLs, with the settings
// only a WebSocket has.
type WebSocket struct {
	URL    string
	Header http.Header
	// HeaderFile is read before every dial, one "Name: value" per line
	// (see ReadHeaderFile); its headers go with the handshake.
	HeaderFile          string
	Subprotocols        []string
	PermanentCloseCodes []wsconn.StatusCode
	Decompression       wsconn.Decompression
	Proxy               *url.URL
	Roots               *x509.CertPool // nil: the system's (LoadRoots)
}

// Dial starts a WebSocket client of w.URL with opts and w's settings.
func (w WebSocket) Dial(ctx context.Context, opts ...session.Option) (Client, error) {
	opts = append(opts, wsconn.WithHeader(w.Header), wsconn.WithSubprotocols(w.Subprotocols...))
	if path := w.HeaderFile; path != "" {
		opts = append(opts, wsconn.WithCredentials(func(context.Context) (wsconn.Credentials, error) {
			h, err := ReadHeaderFile(path)
			return wsconn.Credentials{Header: h}, err
		}))
	}
	if len(w.PermanentCloseCodes) > 0 {
		opts = append(opts, wsconn.WithPermanentCloseCodes(w.PermanentCloseCodes...))
	}
	if w.Decompression != wsconn.NoDecompression {
		opts = append(opts, wsconn.WithDecompression(w.Decompression))
	}
	if w.Proxy != nil {
		opts = append(opts, wsconn.WithProxy(w.Proxy))
	}
	if w.Roots != nil {
		opts = append(opts, wsconn.WithTLSConfig(&tls.Config{RootCAs: w.Roots, MinVersion: tls.VersionTLS12}))
	}
	c, err := wsconn.Dial(ctx, w.URL, opts...)
	if err != nil {
		return nil, err // a nil *wsconn.Client must not become a non-nil Client
	}
	return c, nil
}

// AddHeader adds the header line "Name: value" to h. It refuses what
// net/http would refuse to send, so that a bad header is reported at once
// rather than failing every handshake.
func AddHeader(h http.Header, line string) error {
	k, v, ok := strings.Cut(line, ":")
	k = strings.TrimSpace(k)
	if !ok || k == "" || strings.ContainsAny(k, " \t") {
		return errors.New("want 'Name: value'")
	}
	if !IsToken(k) {
		return fmt.Errorf("header name %q is not an HTTP token", k)
	}
	v = strings.TrimSpace(v)
	if i := strings.IndexFunc(v, func(r rune) bool { return (r < ' ' && r != '\t') || r == 0x7f }); i >= 0 {
		return fmt.Errorf("header value holds the control character %q", v[i])
	}
	h.Add(k, v)
	return nil
}

// IsToken reports whether s is an HTTP token (RFC 9110 §5.6.2): visible
// ASCII without delimiters. Header names and subprotocols must be tokens.
func IsToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// HeaderFileError is a header file that could not be used: its path and,
// for a malformed line, its number. It never holds a line's text, which
// may be a secret.
type HeaderFileError struct {
	Path string
	Line int // 0 when the file could not be read
	Err  error
}

func (e *HeaderFileError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("header file %s: %v", e.Path, e.Err)
	}
	return fmt.Sprintf("header file %s, line %d: %v", e.Path, e.Line, e.Err)
}

func (e *HeaderFileError) Unwrap() error { return e.Err }

// ReadHeaderFile reads handshake headers from path: one "Name: value" per
// line; blank lines and lines starting with # are skipped. Dial reads it
// again before every dial, so a token rotated into the file is used by
// the next reconnect. Its errors are *HeaderFileError.
func ReadHeaderFile(path string) (http.Header, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is named once, by HeaderFileError
		}
		return nil, &HeaderFileError{Path: path, Err: err}
	}
	h := http.Header{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, len(b)+1)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := AddHeader(h, line); err != nil {
			return nil, &HeaderFileError{Path: path, Line: n, Err: err}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, &HeaderFileError{Path: path, Err: err}
	}
	return h, nil
}

// LoadRoots returns the pool of the PEM certificates in the file path: the
// roots a wss:// (or TLS) dial trusts instead of the system's.
func LoadRoots(path string) (*x509.CertPool, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no PEM certificate", path)
	}
	return pool, nil
}

// ParseProxy parses a proxy URL: http:// or https:// (HTTP CONNECT), or
// socks5:// or socks5h://, with a host.
func ParseProxy(raw string) (*url.URL, error) {
	u, err := url.Parse(raw)
	switch {
	case err != nil:
		return nil, err
	case u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "socks5" && u.Scheme != "socks5h":
		return nil, fmt.Errorf("scheme must be http, https, socks5 or socks5h, got %q", u.Scheme)
	case u.Host == "":
		return nil, fmt.Errorf("no host in %q", u.Redacted())
	}
	return u, nil
}

// ParseDecompression parses "gzip" or "deflate"; "" is none.
func ParseDecompression(s string) (wsconn.Decompression, error) {
	switch s {
	case "":
		return wsconn.NoDecompression, nil
	case "gzip":
		return wsconn.Gzip, nil
	case "deflate":
		return wsconn.Deflate, nil
	}
	return wsconn.NoDecompression, fmt.Errorf("want gzip or deflate, got %q", s)
}
