package wsconn

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sync"
)

// MaxRedirects is the number of redirects one handshake follows, as
// net/http's default client does; coder/websocket's own CheckRedirect would
// follow any number. A redirect back to a URL the handshake already
// requested fails at once. Both fail the dial with ErrTooManyRedirects,
// which is permanent.
const MaxRedirects = 10

// attempt is one dial's view of its HTTP exchange. It holds the body of a
// 101 answer, which is the connection itself: coder/websocket reads what
// follows a 101 it refuses (a wrong Sec-WebSocket-Accept) under a fixed 3s
// timer, so the handshake timeout and Close bound that read by closing the
// body. It also keeps the URLs the handshake was redirected to, whose
// secrets its errors must not show.
type attempt struct {
	mu       sync.Mutex
	body     io.Closer
	aborted  bool
	redirect []*url.URL
}

type attemptKey struct{}

func attemptOf(ctx context.Context) *attempt {
	a, _ := ctx.Value(attemptKey{}).(*attempt)
	return a
}

// upgraded keeps the body of a 101 answer; if the attempt was aborted
// meanwhile, the body is closed at once.
func (a *attempt) upgraded(body io.Closer) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.aborted {
		_ = body.Close()
		return
	}
	a.body = body
}

// abort closes the connection of a 101 answer, if one came: a read of it
// in progress fails at once.
func (a *attempt) abort() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.aborted = true
	if a.body != nil {
		_ = a.body.Close()
	}
}

func (a *attempt) redirected(u *url.URL) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.redirect = append(a.redirect, u)
}

// secrets returns the secrets of the URLs the handshake was redirected to.
func (a *attempt) secrets() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var s []string
	for _, u := range a.redirect {
		s = append(s, urlSecrets(u)...)
	}
	return s
}

// handshakeClient returns the HTTP client the handshakes use: hc (its
// jar, timeout and redirect policy kept) with a transport that hands each
// 101 answer to its attempt, and redirects bounded by MaxRedirects.
func handshakeClient(hc *http.Client) *http.Client {
	out := *hc
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	out.Transport = guardTransport{base}
	out.CheckRedirect = boundRedirects(hc.CheckRedirect)
	return &out
}

type guardTransport struct{ base http.RoundTripper }

func (g guardTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := g.base.RoundTrip(req)
	if err == nil && resp.StatusCode == http.StatusSwitchingProtocols && resp.Body != nil {
		if a := attemptOf(req.Context()); a != nil {
			a.upgraded(resp.Body)
		}
	}
	return resp, err
}

// boundRedirects returns a CheckRedirect that fails a redirect loop at
// once and stops after MaxRedirects, then asks next, if any.
func boundRedirects(next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if a := attemptOf(req.Context()); a != nil {
			a.redirected(req.URL)
		}
		for _, v := range via {
			if sameResource(v.URL, req.URL) {
				return fmt.Errorf("%w: redirect loop back to %s", ErrTooManyRedirects, redact(req.URL))
			}
		}
		if len(via) > MaxRedirects {
			return fmt.Errorf("%w: stopped after %d redirects", ErrTooManyRedirects, MaxRedirects)
		}
		if next != nil {
			return next(req, via)
		}
		return nil
	}
}

// sameResource reports whether a and b name the same resource; the scheme
// is left out, since coder/websocket turns ws into http on the way.
func sameResource(a, b *url.URL) bool {
	return a.Host == b.Host && a.EscapedPath() == b.EscapedPath() && a.RawQuery == b.RawQuery
}
