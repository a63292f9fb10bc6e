package wsconn

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
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
	return option(func(t *wsTransport) error {
		if conf == nil {
			return errors.New("TLSConfig: nil")
		}
		t.tlsConfig = conf.Clone()
		return nil
	})
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
	return option(func(t *wsTransport) error {
		t.proxySet = true
		if u == nil {
			t.proxy = nil
			return nil
		}
		switch u.Scheme {
		case "http", "https", "socks5", "socks5h":
		default:
			return fmt.Errorf("WithProxy %q: scheme must be http, https, socks5 or socks5h, got %q", redact(u), u.Scheme)
		}
		if u.Host == "" {
			return fmt.Errorf("WithProxy %q: no host", redact(u))
		}
		uu := *u
		t.proxy = &uu
		return nil
	})
}

// transportClient returns the HTTP client of a client that sets TLS or a
// proxy but no client of its own: the default one's transport, cloned,
// with its dialer (which hands each session its socket) kept.
func transportClient(cfg *wsTransport) *http.Client {
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
