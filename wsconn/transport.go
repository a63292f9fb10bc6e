package wsconn

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"unicode/utf8"
)

// WithTLSConfig sets the TLS configuration of wss:// handshakes: the
// roots to trust (a venue's own CA), a client certificate, a minimum
// version. The client keeps its own transport (a clone of
// http.DefaultTransport's settings), so the session can still close its
// socket directly and read without a cancellable context, which a
// custom *http.Client given with WithHTTPClient gives up. It cannot be
// combined with WithHTTPClient: set TLS on that client's transport then.
// Without it, the system roots are trusted (Go reads SSL_CERT_FILE and
// SSL_CERT_DIR on Unix).
func WithTLSConfig(conf *tls.Config) Option {
	return func(c *config) {
		if conf == nil {
			c.problems = append(c.problems, errors.New("TLSConfig: nil"))
			return
		}
		c.tlsConfig = conf.Clone()
	}
}

// WithProxy sends the handshakes through the proxy at u: http:// or
// https:// (an HTTP CONNECT tunnel, for ws:// and wss:// alike; u's
// userinfo, if any, is sent as Proxy-Authorization Basic), or socks5://
// or socks5h://. Like
// WithTLSConfig it keeps the client's own transport; it cannot be combined
// with WithHTTPClient. Without it, the proxy comes from the environment
// (HTTPS_PROXY for wss://, HTTP_PROXY for ws://, NO_PROXY), as
// http.ProxyFromEnvironment reads them, and net/http tunnels only wss://
// through it (a ws:// handshake goes to the proxy as a plain request,
// which few proxies upgrade: give WithProxy then); WithProxy(nil) turns
// the environment's proxy off.
//
// The WebSocket URL's own userinfo (wss://user:pass@host/) is sent to the
// venue as Authorization Basic by net/http; it is never logged.
func WithProxy(u *url.URL) Option {
	return func(c *config) {
		c.proxySet = true
		if u == nil {
			c.proxy = nil
			return
		}
		switch u.Scheme {
		case "http", "https", "socks5", "socks5h":
		default:
			c.problems = append(c.problems, fmt.Errorf("WithProxy %q: scheme must be http, https, socks5 or socks5h, got %q", redact(u), u.Scheme))
			return
		}
		if u.Host == "" {
			c.problems = append(c.problems, fmt.Errorf("WithProxy %q: no host", redact(u)))
			return
		}
		uu := *u
		c.proxy = &uu
	}
}

// transportClient returns the HTTP client of a client that sets TLS or a
// proxy but no client of its own: the default one's transport, cloned,
// with its dialer (which hands each session its socket) kept.
func transportClient(cfg *config) *http.Client {
	tr := defaultHTTPClient().Transport.(*http.Transport).Clone()
	if cfg.tlsConfig != nil {
		tr.TLSClientConfig = cfg.tlsConfig
	}
	if cfg.proxySet {
		tr.Proxy = nil
		switch p := cfg.proxy; {
		case p == nil:
		case p.Scheme == "http" || p.Scheme == "https":
			// net/http tunnels only https:// requests with CONNECT and
			// sends ws:// ones to the proxy as plain requests, which
			// proxies do not upgrade: the dialer tunnels both.
			tr.DialContext = connectDialer(tr.DialContext, p)
		default:
			tr.Proxy = http.ProxyURL(p) // SOCKS5: net/http's own dialer
		}
	}
	return &http.Client{Transport: tr}
}

// connectDialer returns a dialer that reaches addr through an HTTP
// CONNECT tunnel of the proxy at p, dialed with dial (which hands the
// session the socket to the proxy: closing it ends the tunnel).
func connectDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error), p *url.URL) func(ctx context.Context, network, addr string) (net.Conn, error) {
	paddr := p.Host
	if p.Port() == "" {
		port := "80"
		if p.Scheme == "https" {
			port = "443"
		}
		paddr = net.JoinHostPort(p.Hostname(), port)
	}
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := dial(ctx, network, paddr)
		if err != nil {
			return nil, fmt.Errorf("proxy %s: %w", redact(p), err)
		}
		stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
		defer stop()
		if p.Scheme == "https" {
			tc := tls.Client(conn, &tls.Config{ServerName: p.Hostname(), MinVersion: tls.VersionTLS12})
			if err := tc.HandshakeContext(ctx); err != nil {
				_ = conn.Close()
				return nil, fmt.Errorf("proxy %s: %w", redact(p), err)
			}
			conn = tc
		}
		req := &http.Request{Method: http.MethodConnect, URL: &url.URL{Opaque: addr}, Host: addr, Header: make(http.Header)}
		if u := p.User; u != nil {
			pw, _ := u.Password()
			req.Header.Set("Proxy-Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(u.Username()+":"+pw)))
		}
		br := bufio.NewReader(conn)
		err = req.Write(conn)
		var resp *http.Response
		if err == nil {
			resp, err = http.ReadResponse(br, req)
		}
		switch {
		case err != nil && ctx.Err() != nil:
			err = context.Cause(ctx)
		case err == nil && resp.StatusCode != http.StatusOK:
			err = fmt.Errorf("CONNECT %s answered %s", addr, resp.Status)
		case err == nil && br.Buffered() > 0:
			err = fmt.Errorf("CONNECT %s: the proxy sent data before the tunnel was up", addr)
		}
		if err != nil {
			_ = conn.Close()
			return nil, fmt.Errorf("proxy %s: %w", redact(p), err)
		}
		return conn, nil
	}
}

// checkTransport adds the problems of the transport options to bad.
func checkTransport(cfg *config, bad func(string, ...any)) {
	if cfg.httpClient == nil {
		return
	}
	if cfg.tlsConfig != nil {
		bad("TLSConfig and HTTPClient: set TLS on the HTTP client's transport")
	}
	if cfg.proxySet {
		bad("Proxy and HTTPClient: set the proxy on the HTTP client's transport")
	}
}

// Decompression is how binary payloads are encoded by the venue (HTX
// sends gzip, OKX's older API raw deflate).
type Decompression uint8

const (
	// NoDecompression, the default: payloads are handed over as read.
	NoDecompression Decompression = iota
	// Gzip: binary messages are gzip streams (RFC 1952).
	Gzip
	// Deflate: binary messages are raw deflate streams (RFC 1951).
	Deflate
)

// String returns "none", "gzip" or "deflate".
func (d Decompression) String() string {
	switch d {
	case NoDecompression:
		return "none"
	case Gzip:
		return "gzip"
	case Deflate:
		return "deflate"
	}
	return fmt.Sprintf("Decompression(%d)", uint8(d))
}

// WithDecompression decodes every binary message with d as it is read,
// before anything sees it: the application heartbeat's matcher, the ping
// responder, Requests' matchers, the subscriptions and the handler. A
// decoded payload that is valid UTF-8 becomes a Text message (the venue's
// JSON), else stays Binary. A payload that does not decode is handed over
// as read and counted in Stats.Undecoded. The decoded size is bounded by
// the read limit: beyond it the connection is Lost with ErrMessageTooBig.
// Text messages are never touched. This is not permessage-deflate
// (WithCompression), which the WebSocket layer does itself.
func WithDecompression(d Decompression) Option { return func(c *config) { c.decompress = d } }

// decode decodes a binary payload as the session's decompression says.
func (s *session) decode(typ MessageType, data []byte) (MessageType, []byte, error) {
	if s.dec == NoDecompression || typ != Binary {
		return typ, data, nil
	}
	var r io.ReadCloser
	var err error
	if s.dec == Gzip {
		r, err = gzip.NewReader(bytes.NewReader(data))
	} else {
		r = flate.NewReader(bytes.NewReader(data))
	}
	if err != nil {
		s.c.stats.undecoded.Add(1)
		return typ, data, nil
	}
	defer r.Close()
	limit := s.c.cfg.readLimit
	var src io.Reader = r
	if limit > 0 {
		src = io.LimitReader(r, limit+1)
	}
	out, err := io.ReadAll(src)
	switch {
	case err != nil:
		s.c.stats.undecoded.Add(1)
		return typ, data, nil
	case limit > 0 && int64(len(out)) > limit:
		s.c.stats.tooBig.Add(1)
		return typ, nil, fmt.Errorf("%w: decoded payload over the read limit of %d bytes", ErrMessageTooBig, limit)
	}
	if utf8.Valid(out) {
		typ = Text
	}
	return typ, out, nil
}
