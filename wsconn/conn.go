package wsconn

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"

	"github.com/coder/websocket"

	"github.com/connfsm/connfsm/session"
	"github.com/connfsm/connfsm/session/transport"
)

// conn is a WebSocket connection as the session core uses it.
type conn struct {
	ws  *websocket.Conn
	raw net.Conn // the TCP connection under ws, when known; see rawConn
	// reads is what reads are made with, unless nil. When the socket is
	// known, CloseNow closes it, which fails them all, and reads are made
	// with Background: a read with a cancellable context costs
	// coder/websocket four allocations. Otherwise CloseNow cancels reads.
	reads *cancelable
	msg   msgReader // the message being read: one at a time
}

// cancelable is a context and its cancel.
type cancelable struct {
	ctx    context.Context
	cancel context.CancelFunc
}

func newConn(ws *websocket.Conn, raw net.Conn) *conn {
	c := &conn{ws: ws, raw: raw}
	if raw == nil {
		ctx, cancel := context.WithCancel(context.Background())
		c.reads = &cancelable{ctx, cancel}
	}
	return c
}

// readCtx returns the context reads are made with.
func (c *conn) readCtx() context.Context {
	if c.reads == nil {
		return context.Background()
	}
	return c.reads.ctx
}

// Reader returns the next message's reader. A close frame's code and
// reason come as a *transport.CloseError, a message over the read limit as
// an error matching session.ErrMessageTooBig.
func (c *conn) Reader() (transport.MessageType, io.Reader, error) {
	typ, r, err := c.ws.Reader(c.readCtx())
	if err != nil {
		return 0, nil, readError(err)
	}
	c.msg.r = r
	return transport.MessageType(typ), &c.msg, nil
}

// msgReader translates the errors of a message's reader. The conn keeps
// one, so that a message costs no allocation of its own.
type msgReader struct{ r io.Reader }

func (e *msgReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF {
		err = readError(err)
	}
	return n, err
}

func readError(err error) error {
	if errors.Is(err, websocket.ErrMessageTooBig) {
		return fmt.Errorf("%w: %w", session.ErrMessageTooBig, err)
	}
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		return &transport.CloseError{Code: transport.StatusCode(ce.Code), Reason: ce.Reason, Err: err}
	}
	return err
}

func (c *conn) Write(ctx context.Context, typ transport.MessageType, p []byte) error {
	return c.ws.Write(ctx, websocket.MessageType(typ), p)
}

func (c *conn) Ping(ctx context.Context) error { return c.ws.Ping(ctx) }

func (c *conn) Close(code transport.StatusCode, reason string) error {
	return c.ws.Close(websocket.StatusCode(code), reason)
}

// CloseNow closes the socket under the connection, or cancels its reads
// when the socket is not known: coder/websocket's CloseNow waits for a
// Close in progress, which only a failed read unblocks.
func (c *conn) CloseNow() error {
	if c.reads != nil {
		c.reads.cancel()
	}
	if c.raw != nil {
		_ = c.raw.Close()
	}
	return c.ws.CloseNow()
}

// NetConn returns the TCP connection, or nil: the client asks it whether
// bytes wait unread before it blames the peer for a late pong.
func (c *conn) NetConn() net.Conn { return c.raw }

// Subprotocol returns the subprotocol the server selected, or "".
func (c *conn) Subprotocol() string { return c.ws.Subprotocol() }
