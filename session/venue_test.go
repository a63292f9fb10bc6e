package session

import (
	"context"
	"net"
	"net/http"
	"testing"

	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// startServer starts an in-memory venue for a test in a synctest bubble:
// it echoes unless opts say otherwise, and is closed when the test ends.
// Dial it with WithHTTPClient(srv.Client()) and any URL.
func startServer(t *testing.T, opts ...wsconntest.Option) *wsconntest.Server {
	t.Helper()
	srv := wsconntest.NewServer(opts...)
	t.Cleanup(srv.Close)
	return srv
}

// dials counts the dial attempts srv saw, refused ones included.
func dials(srv *wsconntest.Server) int {
	st := srv.Stats()
	return int(st.Accepted + st.Refused)
}

// up brings srv back after Down.
func up(t *testing.T, srv *wsconntest.Server) {
	t.Helper()
	if err := srv.Up(); err != nil {
		t.Fatalf("Up: %v", err)
	}
}

// wrapDial returns an HTTP client dialing srv whose connections wrap
// returns in place of the client's end: a test's probe on the socket.
func wrapDial(t *testing.T, srv *wsconntest.Server, wrap func(net.Conn) net.Conn) *http.Client {
	t.Helper()
	tr := srv.Client().Transport.(*http.Transport).Clone()
	dial := tr.DialContext
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return wrap(c), nil
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}
