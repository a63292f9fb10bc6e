package wsconn

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// defaultHTTPClient is shared by the clients not given one. Keep-alives
// are off: an upgraded connection is hijacked anyway, and a refused
// handshake's socket is then closed at once instead of idling in a pool
// after its client gave up. One shared transport costs nothing per client.
//
// Its dialer puts each TCP connection in the rawConn slot the handshake's
// context carries: with keep-alives off, a request only ever gets the
// connection dialed for it.
var defaultHTTPClient = sync.OnceValue(func() *http.Client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	d := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second} // as http.DefaultTransport's
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		conn, err := d.DialContext(ctx, network, addr)
		if slot, ok := ctx.Value(rawConnKey{}).(*rawConn); ok && err == nil {
			slot.set(conn)
		}
		return conn, err
	}
	return &http.Client{Transport: tr}
})

// rawConn receives the TCP connection under a WebSocket handshake. With
// it, the session can abort the connection by closing the socket, and so
// reads without a cancellable context: coder/websocket arms a
// context.AfterFunc on every read made with one (four allocations, twice
// per message).
type rawConn struct {
	mu   sync.Mutex
	conn net.Conn
}

type rawConnKey struct{}

func (r *rawConn) set(c net.Conn) {
	r.mu.Lock()
	r.conn = c
	r.mu.Unlock()
}

func (r *rawConn) get() net.Conn {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conn
}
