package session

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/coder/websocket"
	"github.com/connfsm/connfsm/session/transport"
)

// The core's tests run it over WebSocket connections to wsconntest's
// venue. wsTransport is the least of an adapter that does: package wsconn
// has the real one, which imports this package.

type wsTransport struct {
	url          string
	hc           *http.Client
	header       http.Header
	subprotocols []string
	compression  websocket.CompressionMode
	credentials  func(context.Context) (Credentials, error)
}

// Credentials are what the test transport's credentials function returns.
type Credentials struct {
	URL    string
	Header http.Header
}

func dialWS(ctx context.Context, rawURL string, opts ...Option) (*Client, error) {
	return Dial(ctx, newWSTransport(rawURL), opts...)
}

func newPoolWS(ctx context.Context, rawURL string, cfg PoolConfig, opts ...Option) (*Pool, error) {
	return NewPool(ctx, func() transport.Transport { return newWSTransport(rawURL) }, cfg, opts...)
}

func newWSTransport(rawURL string) *wsTransport { return &wsTransport{url: rawURL} }

func wsOption(set func(*wsTransport) error) Option {
	return TransportOption(func(t transport.Transport) error { return set(t.(*wsTransport)) })
}

func WithHTTPClient(h *http.Client) Option {
	return wsOption(func(t *wsTransport) error {
		if h == nil {
			return errors.New("HTTPClient: nil")
		}
		t.hc = h
		return nil
	})
}

func WithHeader(h http.Header) Option {
	return wsOption(func(t *wsTransport) error { t.header = h.Clone(); return nil })
}

func WithSubprotocols(p ...string) Option {
	return wsOption(func(t *wsTransport) error { t.subprotocols = p; return nil })
}

func WithCompression(m websocket.CompressionMode) Option {
	return wsOption(func(t *wsTransport) error { t.compression = m; return nil })
}

func WithCredentials(fn func(context.Context) (Credentials, error)) Option {
	return wsOption(func(t *wsTransport) error {
		if fn == nil {
			return errors.New("credentials: nil func")
		}
		t.credentials = fn
		return nil
	})
}

func (t *wsTransport) String() string {
	u, err := url.Parse(t.url)
	if err != nil {
		return "invalid URL"
	}
	u.User, u.RawQuery, u.Fragment = nil, "", ""
	return u.String()
}

type socketKey struct{}

// socketClient dials loopback sockets and hands each to the dial that
// asked, as wsconn's default client does.
var socketClient = sync.OnceValue(func() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	var d net.Dialer
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if slot, ok := ctx.Value(socketKey{}).(*net.Conn); ok && err == nil {
			*slot = c
		}
		return c, err
	}
	return &http.Client{Transport: tr}
})

func (t *wsTransport) Dial(ctx context.Context, a *transport.Attempt) (transport.Conn, error) {
	u, header := t.url, t.header
	if t.credentials != nil {
		cr, err := t.credentials(ctx)
		if err != nil {
			return nil, fmt.Errorf("test transport: credentials: %w", err)
		}
		if cr.URL != "" {
			u = cr.URL
		}
		if cr.Header != nil {
			header = header.Clone()
			if header == nil {
				header = http.Header{}
			}
			for k, v := range cr.Header {
				header[k] = v
			}
		}
	}
	a.Sent()
	hc := t.hc
	var raw net.Conn
	if hc == nil {
		hc = socketClient()
		ctx = context.WithValue(ctx, socketKey{}, &raw)
	}
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { a.Reached() }})
	ws, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{
		HTTPClient: hc, HTTPHeader: header, Subprotocols: t.subprotocols, CompressionMode: t.compression,
	})
	if err != nil {
		if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
			secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
			return nil, &transport.HandshakeError{Status: resp.StatusCode, RetryAfter: time.Duration(secs) * time.Second, Err: err}
		}
		return nil, err
	}
	ws.SetReadLimit(a.ReadLimit)
	c := &wsConn{ws: ws, raw: raw}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	return c, nil
}

type wsConn struct {
	ws     *websocket.Conn
	raw    net.Conn
	ctx    context.Context
	cancel context.CancelFunc
}

func (c *wsConn) Reader() (transport.MessageType, io.Reader, error) {
	typ, r, err := c.ws.Reader(c.ctx)
	if err != nil {
		return 0, nil, wsError(err)
	}
	return transport.MessageType(typ), wsReader{r}, nil
}

type wsReader struct{ r io.Reader }

func (w wsReader) Read(p []byte) (int, error) {
	n, err := w.r.Read(p)
	if err != nil && err != io.EOF {
		err = wsError(err)
	}
	return n, err
}

func wsError(err error) error {
	if errors.Is(err, websocket.ErrMessageTooBig) {
		return fmt.Errorf("%w: %w", ErrMessageTooBig, err)
	}
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return &transport.CloseError{Code: transport.StatusCode(ce.Code), Reason: ce.Reason, Err: err}
	}
	return err
}

func (c *wsConn) Write(ctx context.Context, typ transport.MessageType, p []byte) error {
	return c.ws.Write(ctx, websocket.MessageType(typ), p)
}
func (c *wsConn) Ping(ctx context.Context) error { return c.ws.Ping(ctx) }
func (c *wsConn) Close(code transport.StatusCode, reason string) error {
	return c.ws.Close(websocket.StatusCode(code), reason)
}
func (c *wsConn) CloseNow() error {
	c.cancel()
	if c.raw != nil {
		_ = c.raw.Close()
	}
	return c.ws.CloseNow()
}
func (c *wsConn) NetConn() net.Conn   { return c.raw }
func (c *wsConn) Subprotocol() string { return c.ws.Subprotocol() }
