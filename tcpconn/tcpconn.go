package tcpconn

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"reflect"
	"strconv"

	"github.com/connfsm/connfsm/internal/urlmask"
	"github.com/connfsm/connfsm/session"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/tcpconn/framing"
)

// Dial validates the configuration and starts a client of the server at
// addr: "tcp://HOST:PORT", or "tls://HOST:PORT" for TLS. See session.Dial
// for what it waits for. Nothing starts if addr, an option or ctx is
// invalid; the *transport.ConfigError names each bad field.
func Dial(ctx context.Context, addr string, opts ...session.Option) (*session.Client, error) {
	return session.Dial(ctx, newTransport(addr), opts...)
}

// NewPool starts a pool of connections to the server at addr: see
// session.NewPool.
func NewPool(ctx context.Context, addr string, cfg session.PoolConfig, opts ...session.Option) (*session.Pool, error) {
	return session.NewPool(ctx, func() transport.Transport { return newTransport(addr) }, cfg, opts...)
}

// WithFraming sets how the stream is cut into messages (default
// framing.Line). A nil f, or one holding a nil pointer, is a
// configuration error. A read that panics in f fails the connection, with
// a cause matching tasks.ErrPanicked, rather than the process.
func WithFraming(f framing.Framer) session.Option {
	return option(func(t *tcpTransport) error {
		switch {
		case f == nil:
			return errors.New("WithFraming: nil Framer")
		case isNilPointer(f):
			return fmt.Errorf("WithFraming: nil Framer (a nil %T)", f)
		}
		t.framer = f
		return nil
	})
}

// WithTLSConfig sets the TLS configuration of tls:// connections: the
// roots to trust (a venue's own CA), a client certificate. Its
// ServerName defaults to the address's host. Without it, the system roots
// are trusted. Given with a tcp:// address it is an error.
func WithTLSConfig(conf *tls.Config) session.Option {
	return option(func(t *tcpTransport) error {
		if conf == nil {
			return errors.New("TLSConfig: nil")
		}
		t.tlsConfig = conf.Clone()
		return nil
	})
}

// WithDialer sets the function that opens the TCP connections (default: a
// net.Dialer). A proxy's dialer, or an in-memory venue's in tests.
func WithDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) session.Option {
	return option(func(t *tcpTransport) error {
		if dial == nil {
			return errors.New("WithDialer: nil func")
		}
		t.dial = dial
		return nil
	})
}

// isNilPointer reports whether v holds a nil pointer, such as a
// (*framing.Line)(nil), whose methods would panic on the first read.
func isNilPointer(v any) bool {
	r := reflect.ValueOf(v)
	return r.Kind() == reflect.Pointer && r.IsNil()
}

// option makes an option of this package: set runs on the client's
// transport once every option has been read.
func option(set func(*tcpTransport) error) session.Option {
	return session.TransportOption(func(t transport.Transport) error {
		tt, ok := t.(*tcpTransport)
		if !ok {
			return fmt.Errorf("a tcpconn option given to a %T transport", t)
		}
		return set(tt)
	})
}

// transport dials framed TCP or TLS connections. Its settings are written
// by the options before the first dial, and only read after.
type tcpTransport struct {
	addr      string // as given, for errors
	hostport  string // "" if addr is invalid (problem says why)
	useTLS    bool
	problem   error
	framer    framing.Framer
	tlsConfig *tls.Config
	dial      func(ctx context.Context, network, addr string) (net.Conn, error)
}

func newTransport(addr string) *tcpTransport {
	t := &tcpTransport{addr: addr, framer: framing.Line{}}
	u, err := url.Parse(addr)
	switch {
	case err != nil:
		t.problem = fmt.Errorf("address %q: %w", urlmask.Raw(addr), errors.Unwrap(err))
	case u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		t.problem = fmt.Errorf("address %q: want only a scheme, a host and a port", redact(u))
	case u.Scheme != "tcp" && u.Scheme != "tls":
		t.problem = fmt.Errorf("address %q: scheme must be tcp or tls, got %q", urlmask.Raw(addr), u.Scheme)
	case u.Hostname() == "" || u.Port() == "":
		t.problem = fmt.Errorf("address %q: want HOST:PORT", urlmask.Raw(addr))
	case !validPort(u.Port()):
		t.problem = fmt.Errorf("address %q: port must be 1 to 65535, got %s", addr, u.Port())
	default:
		t.hostport, t.useTLS = u.Host, u.Scheme == "tls"
	}
	if t.problem == nil {
		var d net.Dialer
		t.dial = d.DialContext
	}
	return t
}

// validPort reports whether port (digits, as url.Parse leaves it) is one
// a server can listen on: a dial to another would fail every attempt.
func validPort(port string) bool {
	n, err := strconv.ParseUint(port, 10, 16)
	return err == nil && n > 0
}

// redact drops an address's userinfo, query and fragment.
func redact(u *url.URL) string {
	v := *u
	v.User, v.RawQuery, v.Fragment = nil, "", ""
	return v.String()
}

// String returns the address.
func (t *tcpTransport) String() string {
	if t.hostport == "" {
		return "invalid address"
	}
	if t.useTLS {
		return "tls://" + t.hostport
	}
	return "tcp://" + t.hostport
}

// Check returns the problems of the address and settings; session.Dial
// calls it after the options.
func (t *tcpTransport) Check() error {
	if t.problem != nil {
		return t.problem
	}
	if t.tlsConfig != nil && !t.useTLS {
		return fmt.Errorf("TLSConfig given for %s: use a tls:// address", t)
	}
	return nil
}

// CheckMessage returns the error the framer would return for p, if it
// tells (framing.Checker): the client then refuses p at Send, before
// anything is written or buffered.
func (t *tcpTransport) CheckMessage(_ transport.MessageType, p []byte) error {
	if ck, ok := t.framer.(framing.Checker); ok {
		return ck.Check(p)
	}
	return nil
}

// Dial opens one connection: TCP, then TLS's handshake for tls://.
func (t *tcpTransport) Dial(ctx context.Context, a *transport.Attempt) (transport.Conn, error) {
	a.Sent()
	nc, err := t.dial(ctx, "tcp", t.hostport)
	if err != nil {
		return nil, fmt.Errorf("tcpconn: dial %s: %w", t, err)
	}
	a.Reached()
	raw := nc
	if t.useTLS {
		conf := t.tlsConfig
		if conf == nil {
			conf = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		if conf.ServerName == "" {
			conf = conf.Clone()
			conf.ServerName, _, _ = net.SplitHostPort(t.hostport)
		}
		tc := tls.Client(nc, conf)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = nc.Close()
			return nil, fmt.Errorf("tcpconn: TLS handshake with %s: %w", t, err)
		}
		nc = tc
	}
	return newConn(nc, raw, t.framer, a.ReadLimit), nil
}
