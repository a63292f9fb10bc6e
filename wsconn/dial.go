package wsconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/connfsm/connfsm/internal/urlmask"
	"github.com/connfsm/connfsm/session"
	"github.com/connfsm/connfsm/session/transport"
)

// Dial validates the configuration and starts a client of the WebSocket
// URL rawURL (ws:// or wss://): see session.Dial for what it waits for.
// Nothing starts if the URL, an option or ctx is invalid; the
// *ConfigError names each bad field.
func Dial(ctx context.Context, rawURL string, opts ...Option) (*Client, error) {
	return session.Dial(ctx, newTransport(rawURL), opts...)
}

// NewPool starts a pool of connections to the WebSocket URL rawURL: see
// session.NewPool.
func NewPool(ctx context.Context, rawURL string, cfg PoolConfig, opts ...Option) (*Pool, error) {
	return session.NewPool(ctx, func() transport.Transport { return newTransport(rawURL) }, cfg, opts...)
}

// transport dials WebSocket connections with coder/websocket. Its
// settings are written by the options before the first dial; after that
// it is only read, by every connection of a Pool at once.
type wsTransport struct {
	// rawURL is the URL as Dial was given it: parsed again by each dial
	// and log line, as a url.URL costs 144 bytes a client would keep for
	// nothing while connected.
	rawURL string
	// The options' settings, made by the first option: a client on the
	// defaults shares noSettings, and keeps 80 bytes less.
	*settings

	dial *websocket.DialOptions // made by check, once the options are set
}

// settings are what the WebSocket options set.
type settings struct {
	header       http.Header
	subprotocols []string
	compression  websocket.CompressionMode
	httpClient   *http.Client
	tlsConfig    *tls.Config
	proxy        *url.URL
	proxySet     bool // WithProxy was given: proxy replaces the environment's
	credentials  func(context.Context) (Credentials, error)
}

// noSettings are the settings of a transport no option was given: never
// written.
var noSettings settings

func newTransport(rawURL string) *wsTransport {
	return &wsTransport{rawURL: rawURL, settings: &noSettings}
}

// own makes t's settings its own, for an option to write.
func (t *wsTransport) own() *wsTransport {
	if t.settings == &noSettings {
		t.settings = new(settings)
	}
	return t
}

// String returns the URL without its userinfo, query and fragment, which
// may hold secrets.
func (t *wsTransport) String() string {
	u, err := url.Parse(t.rawURL)
	if err != nil {
		return urlmask.Raw(t.rawURL)
	}
	return redact(u)
}

// Check returns the problems of the settings as a whole; session.Dial
// calls it after the options.
func (t *wsTransport) Check() error {
	var p []error
	if _, err := checkURL(t.rawURL); err != nil {
		p = append(p, err)
	}
	if t.httpClient != nil && t.tlsConfig != nil {
		p = append(p, errors.New("TLSConfig and HTTPClient: set TLS on the HTTP client's transport"))
	}
	if t.httpClient != nil && t.proxySet {
		p = append(p, errors.New("WithProxy and WithHTTPClient: set the proxy on the HTTP client's transport"))
	}
	p = append(p, checkHeader("WithHeader", t.header)...)
	p = append(p, checkSubprotocols(t.subprotocols)...)
	switch t.compression {
	case websocket.CompressionDisabled, websocket.CompressionNoContextTakeover, websocket.CompressionContextTakeover:
	default:
		p = append(p, fmt.Errorf("WithCompression: mode %d is not known", t.compression))
	}
	t.dial = dialOptions(t)
	return errors.Join(p...)
}

// Dial makes one handshake. The handshake timeout and a Close cut it
// short even while coder/websocket reads a refused 101 answer under its
// own timer.
func (t *wsTransport) Dial(ctx context.Context, at *transport.Attempt) (transport.Conn, error) {
	var raw *rawConn
	if t.httpClient == nil {
		raw = new(rawConn)
		ctx = context.WithValue(ctx, rawConnKey{}, raw)
	}
	a := new(attempt)
	ctx = context.WithValue(ctx, attemptKey{}, a)
	ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { at.Reached() }})
	stop := context.AfterFunc(ctx, a.abort)
	defer stop()
	tg, err := t.target(ctx)
	var (
		conn *websocket.Conn
		resp *http.Response
	)
	if err == nil {
		at.Sent()
		conn, resp, err = websocket.Dial(ctx, tg.url, tg.opts)
		if !stop() && err == nil {
			conn.CloseNow() // its socket was closed as it came up
			err = context.Cause(ctx)
		}
	}
	if err != nil {
		secrets := append(urlSecrets(tg.base), a.secrets()...)
		if tg.u != tg.base {
			secrets = append(secrets, urlSecrets(tg.u)...)
		}
		return nil, dialError(ctx, newScrubber(secrets).scrub(err), resp)
	}
	conn.SetReadLimit(at.ReadLimit)
	return newConn(conn, raw.get()), nil
}

func dialError(ctx context.Context, err error, resp *http.Response) error {
	if resp != nil && resp.StatusCode != http.StatusSwitchingProtocols {
		if resp.Body != nil {
			_ = resp.Body.Close()
		}
		return &HandshakeError{Status: resp.StatusCode, RetryAfter: retryAfter(resp.Header.Get("Retry-After"), time.Now()), Err: err}
	}
	if errors.Is(context.Cause(ctx), ErrHandshakeTimeout) {
		return err // the client names the timeout
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

// checkSubprotocols returns a problem for each subprotocol that is not a
// token (RFC 6455 4.1: non-empty, visible ASCII, no separators) or repeats
// an earlier one: the handshake joins them with commas into one header.
func checkSubprotocols(sub []string) []error {
	var p []error
	seen := make(map[string]bool, len(sub))
	for _, s := range sub {
		switch {
		case !isToken(s):
			p = append(p, fmt.Errorf("WithSubprotocols: %q is not a token", s))
		case seen[s]:
			p = append(p, fmt.Errorf("WithSubprotocols: %q is offered twice", s))
		}
		seen[s] = true
	}
	return p
}

// checkHeader returns a problem for each header of h that net/http would
// refuse to send, failing every handshake: a name that is not a token, a
// value with a control character. They name the header, never its value.
func checkHeader(who string, h http.Header) []error {
	var p []error
	for _, name := range slices.Sorted(maps.Keys(h)) {
		if !isToken(name) {
			p = append(p, fmt.Errorf("%s: name %q is not an HTTP token", who, name))
			continue
		}
		for _, v := range h[name] {
			if strings.ContainsFunc(v, func(r rune) bool { return (r < ' ' && r != '\t') || r == 0x7f }) {
				p = append(p, fmt.Errorf("%s: a value of %q holds a control character", who, name))
				break
			}
		}
	}
	return p
}

// isToken reports whether s is a non-empty HTTP token (RFC 9110 5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// dialOptions returns the handshake's options for t: the shared
// defaultDialOptions unless t sets any.
func dialOptions(t *wsTransport) *websocket.DialOptions {
	own := t.tlsConfig == nil && !t.proxySet
	if t.httpClient == nil && own && t.header == nil && t.subprotocols == nil && t.compression == websocket.CompressionDisabled {
		return defaultDialOptions()
	}
	hc := t.httpClient
	switch {
	case hc == nil && own:
		hc = defaultHTTPClient()
	case hc == nil:
		hc = transportClient(t)
	}
	return &websocket.DialOptions{
		HTTPClient:      handshakeClient(hc),
		HTTPHeader:      t.header,
		Subprotocols:    t.subprotocols,
		CompressionMode: t.compression,
	}
}

// defaultDialOptions are the handshake options of every client dialed
// without WithHTTPClient, WithHeader, WithSubprotocols or WithCompression.
// Nothing writes them: coder/websocket dials with a copy, and a dial with
// credentials' headers copies them first (target).
var defaultDialOptions = sync.OnceValue(func() *websocket.DialOptions {
	return &websocket.DialOptions{HTTPClient: handshakeClient(defaultHTTPClient())}
})

// checkURL parses a WebSocket URL; its error names the URL without its
// secrets.
func checkURL(rawURL string) (*url.URL, error) {
	u, err := url.Parse(rawURL)
	switch {
	case err != nil:
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // its message repeats the raw URL, userinfo included
		}
		return nil, fmt.Errorf("URL %q: %w", urlmask.Raw(rawURL), err)
	case u.Scheme != "ws" && u.Scheme != "wss":
		return nil, fmt.Errorf("URL %q: scheme must be ws or wss, got %q", redact(u), u.Scheme)
	case u.Hostname() == "":
		return nil, fmt.Errorf("URL %q: no host", redact(u))
	}
	return u, nil
}
