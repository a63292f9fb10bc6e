package tcpconn

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/connfsm/connfsm/session"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/tcpconn/framing"
)

// conn is a framed TCP or TLS connection as the session core uses it.
type conn struct {
	nc     net.Conn // the TLS connection, or the TCP one
	raw    net.Conn // the TCP connection
	br     *bufio.Reader
	framer framing.Framer
	app    framing.Appender // framer, when it is one: frames in buffers of the conn's choosing
	slicer framing.Slicer   // framer, when it is one: frames lent where they lie in br
	limit  int64
	// spare is the buffer the next frame not lent is appended to, sized
	// after the last such frame (guess): that frame is given to the
	// session whole (frame.own), not copied again.
	spare []byte
	guess int
	msg   frame

	wmu   sync.Mutex // one frame written at a time
	wbuf  []byte     // under wmu, with app: the frame being written
	abort func()     // closes nc: made once, not per write with a context

	// With wrap, on plain TCP, a large payload is written from where it
	// is, between the frame's head and tail, in one writev (writeLarge):
	// no copy into wbuf, which stays small.
	wrap framing.Wrapper
	iov  [3][]byte   // under wmu: head, payload, tail
	bufs net.Buffers // under wmu: iov's, consumed by the write

	readFailed chan struct{} // closed when a read fails: Close waits for it
	failOnce   sync.Once
	dropped    chan struct{} // closed by CloseNow: it ends Close's wait too
	dropOnce   sync.Once
	// closed is set when this side closes nc: a read failing after it
	// reports net.ErrClosed, as a socket does, even over a net.Pipe
	// (io.ErrClosedPipe), so that the client tells its own close (a
	// ping's write cut at its deadline) from the peer's.
	closed atomic.Bool
}

func newConn(nc, raw net.Conn, f framing.Framer, limit int64) *conn {
	app, _ := f.(framing.Appender)
	slicer, _ := f.(framing.Slicer)
	c := &conn{nc: nc, raw: raw, br: bufio.NewReader(nc), framer: f, app: app, slicer: slicer, limit: limit, readFailed: make(chan struct{}), dropped: make(chan struct{})}
	if _, ok := nc.(*net.TCPConn); ok {
		// net.Buffers writes with one writev on a *net.TCPConn; on
		// another conn (TLS: one record each) it would be several writes.
		c.wrap, _ = f.(framing.Wrapper)
	}
	c.abort = func() { _ = c.CloseNow() }
	return c
}

// keepBuf is the largest buffer a conn keeps from one frame to the next:
// a rare larger frame's is left to the collector, not held while idle.
const keepBuf = 128 << 10

// kept returns b emptied if it is small enough to keep, else nil.
func kept(b []byte) []byte {
	if cap(b) > keepBuf {
		return nil
	}
	return b[:0]
}

// Reader reads the next frame. A frame over the read limit fails with
// an error matching session.ErrMessageTooBig; the stream is out of step
// after it, as after any error. The frame is read whole, copied once on
// its way to the handler: one that lies in the read buffer is lent to the
// session, which copies it (the reader's Bytes, valid until the next
// call); a longer one is read into a buffer of its own, which the session
// takes (the reader's Take).
func (c *conn) Reader() (transport.MessageType, io.Reader, error) {
	p, lent, err := c.readFrame()
	if err != nil {
		c.failOnce.Do(func() { close(c.readFailed) })
		switch {
		case errors.Is(err, framing.ErrTooBig):
			err = fmt.Errorf("%w: %w", session.ErrMessageTooBig, err)
		case c.closed.Load() && !errors.Is(err, net.ErrClosed):
			err = fmt.Errorf("%w: %w", net.ErrClosed, err)
		}
		return 0, nil, err
	}
	typ := transport.Binary
	if utf8.Valid(p) { // vectorised; a word-at-a-time ASCII loop is slower past 64 bytes
		typ = transport.Text
	}
	c.msg = frame{p: p, own: !lent}
	return typ, &c.msg, nil
}

// readFrame reads the next frame: lent, in br's buffer, or in a buffer the
// caller owns. A Framer of the caller's that panics fails the connection:
// the session recovers a panic of its transport's reads.
func (c *conn) readFrame() (p []byte, lent bool, err error) {
	if c.app == nil {
		// A slice of its own, by ReadFrame's contract; copied all the same,
		// as it always was, in case a Framer of the user's keeps it.
		p, err = c.framer.ReadFrame(c.br, c.limit)
		return p, true, err
	}
	if c.spare == nil && c.guess > 0 {
		c.spare = make([]byte, 0, c.guess)
	}
	if c.slicer != nil {
		p, lent, err = c.slicer.SliceFrame(c.spare[:0], c.br, c.limit)
	} else {
		p, err = c.app.AppendFrame(c.spare[:0], c.br, c.limit)
	}
	if err != nil || lent {
		return p, lent, err
	}
	if len(p) == 0 || cap(p) > 2*len(p)+512 {
		// Empty, or much smaller than its buffer: the session copies it,
		// and the buffer serves the next long frame.
		c.spare = kept(p)
		return p, true, nil
	}
	// The frame leaves with its buffer; the next one not lent gets one of
	// its size, if it is one to keep.
	c.spare = nil
	if c.guess = len(p); c.guess > keepBuf {
		c.guess = 0
	}
	return p, false, nil
}

// frame is a frame read whole, as a message's reader.
type frame struct {
	p   []byte
	off int
	own bool // p is the frame's own buffer, which Take gives away
}

func (f *frame) Read(b []byte) (int, error) {
	if f.off == len(f.p) {
		return 0, io.EOF
	}
	n := copy(b, f.p[f.off:])
	f.off += n
	return n, nil
}

// Bytes returns the bytes unread: the session copies them in one step.
func (f *frame) Bytes() []byte { return f.p[f.off:] }

// Take gives the session the bytes unread, without a copy, if the frame
// has a buffer of its own; else nil, and the session copies Bytes.
func (f *frame) Take() []byte {
	if !f.own {
		return nil
	}
	p := f.p[f.off:]
	f.p, f.off, f.own = nil, 0, false
	return p
}

// Write writes p as one frame. If ctx ends during the write, the
// connection is closed, since half a frame would put the stream out of
// step, and the error wraps ctx's cause.
func (c *conn) Write(ctx context.Context, _ transport.MessageType, p []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	err := c.write(ctx, p)
	if err == nil {
		return nil
	}
	if _, ok := ctx.Deadline(); ok && errors.Is(err, os.ErrDeadlineExceeded) {
		// The write deadline is ctx's, and the socket may see it pass
		// before ctx's own timer has run: ctx ends at the same instant.
		<-ctx.Done()
	}
	if ctx.Err() != nil {
		return fmt.Errorf("%w: %w", context.Cause(ctx), err)
	}
	return err
}

// write writes p as one frame, under ctx as Write says.
func (c *conn) write(ctx context.Context, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if ctx.Done() != nil {
		stop := context.AfterFunc(ctx, c.abort)
		defer stop()
	}
	if dl, ok := ctx.Deadline(); ok {
		_ = c.nc.SetWriteDeadline(dl)
		defer c.nc.SetWriteDeadline(time.Time{})
	}
	if c.app == nil {
		return c.framer.WriteFrame(c.nc, p)
	}
	if c.wrap != nil && len(p) >= writevMin {
		return c.writeLarge(p)
	}
	buf, err := c.app.AppendWire(c.wbuf[:0], p)
	if err != nil {
		return err
	}
	c.wbuf = kept(buf)
	_, err = c.nc.Write(buf)
	return err
}

// writevMin is the smallest payload written from where it is, by
// writeLarge: a smaller one costs little to copy (well under a
// microsecond), and one buffer goes out with a plain write.
const writevMin = 8 << 10

// writeLarge writes p between its frame's head and tail in one writev,
// the payload not copied; c.wmu is held.
func (c *conn) writeLarge(p []byte) error {
	if cap(c.wbuf) < 64 {
		c.wbuf = make([]byte, 0, 64) // room for the built-ins' heads and tails: none allocated per write
	}
	head, tail, err := c.wrap.Wrap(c.wbuf[:0], p)
	if err != nil {
		return err
	}
	c.iov = [3][]byte{head, p, tail}
	c.bufs = c.iov[:]
	_, err = c.bufs.WriteTo(c.nc)
	c.iov, c.bufs = [3][]byte{}, nil // the payload is the caller's again
	return err
}

// Ping returns session.ErrNoPing: TCP has none.
func (c *conn) Ping(context.Context) error { return session.ErrNoPing }

// Close half-closes the connection, after the frames written, and waits
// for the peer to close its side: a read that fails. CloseNow ends the
// wait, whether or not a read is under way. A connection that cannot
// half-close (a net.Pipe, a dialer's own net.Conn) is closed at once: the
// peer would never hear of the close it is to answer. TCP carries no close code: code and reason are not sent.
func (c *conn) Close(transport.StatusCode, string) error {
	c.wmu.Lock()
	cw, ok := c.nc.(interface{ CloseWrite() error })
	if !ok {
		defer c.wmu.Unlock()
		return c.CloseNow()
	}
	err := cw.CloseWrite()
	c.wmu.Unlock()
	if err != nil {
		return err
	}
	select {
	case <-c.readFailed:
	case <-c.dropped: // a reader may be held elsewhere: it may never read again
	}
	return nil
}

// CloseNow closes the connection at once, and ends a Close's wait.
func (c *conn) CloseNow() error {
	c.closed.Store(true)
	err := c.nc.Close()
	c.dropOnce.Do(func() { close(c.dropped) })
	return err
}

// NetConn returns the TCP connection: the client asks it whether bytes
// wait unread before it blames the peer for a late reply.
func (c *conn) NetConn() net.Conn { return c.raw }
