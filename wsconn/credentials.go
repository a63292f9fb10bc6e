package wsconn

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"runtime/debug"

	"github.com/coder/websocket"

	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/tasks"
)

// Credentials are what one dial uses: signed URLs, rotating tokens and
// listen keys expire, so a reconnect with the first dial's would be
// refused.
type Credentials struct {
	// URL is the ws or wss URL to dial; "" keeps the URL given to Dial.
	URL string
	// Header holds handshake headers, added to those of WithHeader; a name
	// given here replaces WithHeader's values for it, however either
	// spells it (names are case-insensitive).
	Header http.Header
}

// WithCredentials sets fn, called before every dial (the first and every
// reconnect) for the URL and headers that dial uses. Its ctx ends with the
// attempt: at the handshake timeout, or when the client closes. An error
// from fn fails that dial like any other (DialFailed, then the retry
// policy; transient by default), and so does a URL that is not a valid ws
// or wss URL or a header WithHeader would refuse (a *ConfigError,
// permanent by default); a panic in fn fails
// the dial with a *tasks.PanicError. The logs name the URL given to Dial;
// neither they nor the errors show the userinfo, query or fragment of the
// URL fn returns, nor any header value.
func WithCredentials(fn func(ctx context.Context) (Credentials, error)) Option {
	return option(func(t *wsTransport) error {
		if fn == nil {
			return errors.New("credentials: nil func")
		}
		t.credentials = fn
		return nil
	})
}

// target is where one dial goes and with what.
type target struct {
	base *url.URL // Dial's URL
	u    *url.URL
	url  string
	opts *websocket.DialOptions
}

// target returns what the next dial uses: the credentials function's
// answer, or Dial's URL and options.
func (tr *wsTransport) target(ctx context.Context) (target, error) {
	u, err := url.Parse(tr.rawURL)
	if err != nil {
		return target{}, fmt.Errorf("wsconn: URL: %w", err) // Check refused it: cannot happen
	}
	t := target{base: u, u: u, url: u.String(), opts: tr.dial}
	fn := tr.credentials
	if fn == nil {
		return t, nil
	}
	cr, err := callCredentials(ctx, fn)
	if err != nil {
		return t, fmt.Errorf("wsconn: credentials: %w", err)
	}
	if cr.URL != "" {
		u, err := checkURL(cr.URL)
		if err != nil {
			return t, fmt.Errorf("wsconn: credentials: %w", &transport.ConfigError{Problems: []error{err}})
		}
		t.u, t.url = u, u.String()
	}
	if p := checkHeader("header", cr.Header); len(p) > 0 {
		return t, fmt.Errorf("wsconn: credentials: %w", &transport.ConfigError{Problems: p})
	}
	if len(cr.Header) > 0 {
		h := t.opts.HTTPHeader.Clone()
		if h == nil {
			h = make(http.Header, len(cr.Header))
		}
		for name, values := range canonical(cr.Header) {
			h[name] = values
		}
		o := *t.opts
		o.HTTPHeader = h
		t.opts = &o
	}
	return t, nil
}

func callCredentials(ctx context.Context, fn func(context.Context) (Credentials, error)) (cr Credentials, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = &tasks.PanicError{Task: "dial", Value: p, Stack: debug.Stack()}
		}
	}()
	return fn(ctx)
}
