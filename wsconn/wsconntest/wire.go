package wsconntest

import (
	"encoding/binary"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"
)

// wireConn is the venue's side of one transport connection. It makes the
// connection a black hole on demand (reads dropped, writes swallowed), can
// reset it without a close handshake, and, once the handshake is upgraded,
// parses the frames it reads and writes for the record.
type wireConn struct {
	net.Conn
	srv  *Server
	tcp  *net.TCPConn // the socket under a TLS connection, for a reset; nil in memory
	hole atomic.Bool  // this connection only; the server's flag covers all
	// frozen stops reads until the connection is closed.
	frozen atomic.Bool
	closed chan struct{}

	// frames is set by the handler just before it upgrades: from then on
	// what is read is frames, and what is written is frames once the
	// upgrade response's header has ended.
	frames atomic.Pointer[connState]

	closeOnce sync.Once
	closeErr  error
	done      func() // forgets the connection in the server's set
}

// blackholed reports whether reads are dropped and writes swallowed now.
func (w *wireConn) blackholed() bool { return w.hole.Load() || w.srv.hole.Load() }

// Read reads from the socket; while the connection is a black hole, what
// arrives is read (and recorded) and dropped.
func (w *wireConn) Read(p []byte) (int, error) {
	if w.frozen.Load() {
		<-w.closed
		return 0, net.ErrClosed
	}
	for {
		n, err := w.Conn.Read(p)
		if n > 0 {
			if st := w.frames.Load(); st != nil {
				st.in.feed(p[:n])
			}
		}
		if err != nil || !w.blackholed() {
			return n, err
		}
	}
}

// Write writes to the socket; while the connection is a black hole,
// nothing is written and the write reports success. Frames are recorded
// as the write starts: the client may answer before the write returns.
func (w *wireConn) Write(p []byte) (int, error) {
	if w.blackholed() {
		return len(p), nil
	}
	if st := w.frames.Load(); st != nil {
		st.out.feed(p)
	}
	return w.Conn.Write(p)
}

// Close closes the socket once.
func (w *wireConn) Close() error {
	w.closeOnce.Do(func() {
		close(w.closed)
		w.closeErr = w.Conn.Close()
		if w.done != nil {
			w.done()
		}
	})
	return w.closeErr
}

// reset closes the socket without a close handshake; over TCP with
// SO_LINGER 0, so the peer gets a RST rather than a FIN.
func (w *wireConn) reset() {
	tc := w.tcp
	if tc == nil {
		tc, _ = w.Conn.(*net.TCPConn)
	}
	if tc != nil {
		_ = tc.SetLinger(0)
	}
	_ = w.Close()
}

// maxControlPayload is the most a control frame may carry (RFC 6455,
// section 5.5); the parser keeps no more of a peer's that claims more.
const maxControlPayload = 125

// connState holds the two parsers of an upgraded connection.
type connState struct {
	in, out frameParser
}

func newConnState(record func(Frame), now func() time.Time) *connState {
	return &connState{
		in:  frameParser{dir: FromClient, headerDone: true, emit: record, now: now},
		out: frameParser{dir: ToClient, emit: record, now: now},
	}
}

// frameParser parses a stream of WebSocket frames (RFC 6455, section 5.2)
// fed in pieces of any size. Before headerDone it skips an HTTP header,
// up to the blank line that ends it.
type frameParser struct {
	dir        Direction
	emit       func(Frame)
	now        func() time.Time
	headerDone bool
	crlf       int // how much of "\r\n\r\n" was seen last

	hdr       [14]byte
	hn        int // header bytes so far
	remaining int64
	mask      [4]byte
	masked    bool
	pos       int64 // payload bytes seen, for unmasking
	cur       Frame
}

// feed parses b; it never fails: bytes that are not frames are read as
// frames of some kind, which is what a peer reading them would see too.
func (p *frameParser) feed(b []byte) {
	for len(b) > 0 {
		if !p.headerDone {
			b = p.skipHTTP(b)
			continue
		}
		if p.remaining > 0 {
			k := int64(len(b))
			k = min(k, p.remaining)
			if p.cur.Op >= OpClose { // control payloads are small (at most 125 bytes): keep them
				for _, c := range b[:k] {
					if p.masked {
						c ^= p.mask[p.pos%4]
					}
					if len(p.cur.Payload) < maxControlPayload {
						p.cur.Payload = append(p.cur.Payload, c)
					}
					p.pos++
				}
			}
			p.remaining -= k
			b = b[k:]
			if p.remaining == 0 {
				p.finish()
			}
			continue
		}
		p.hdr[p.hn] = b[0]
		p.hn++
		b = b[1:]
		if p.hn < 2 || p.hn < p.headerLen() {
			continue
		}
		p.startFrame()
	}
}

// skipHTTP consumes b up to the end of an HTTP header.
func (p *frameParser) skipHTTP(b []byte) []byte {
	const end = "\r\n\r\n"
	for i, c := range b {
		switch {
		case c == end[p.crlf]:
			p.crlf++
		case c == '\r':
			p.crlf = 1
		default:
			p.crlf = 0
		}
		if p.crlf == len(end) {
			p.headerDone = true
			return b[i+1:]
		}
	}
	return nil
}

// headerLen is the length of the frame header whose first two bytes are
// in hdr.
func (p *frameParser) headerLen() int {
	n := 2
	switch p.hdr[1] & 0x7f {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if p.hdr[1]&0x80 != 0 {
		n += 4
	}
	return n
}

func (p *frameParser) startFrame() {
	h := p.hdr[:p.hn]
	p.cur = Frame{Dir: p.dir, Op: Opcode(h[0] & 0x0f), Fin: h[0]&0x80 != 0}
	i := 2
	switch l := int64(h[1] & 0x7f); l {
	case 126:
		p.cur.Len = int64(binary.BigEndian.Uint16(h[2:4]))
		i = 4
	case 127:
		p.cur.Len = int64(binary.BigEndian.Uint64(h[2:10]) & (1<<63 - 1))
		i = 10
	default:
		p.cur.Len = l
	}
	p.masked = h[1]&0x80 != 0
	if p.masked {
		copy(p.mask[:], h[i:i+4])
	}
	p.hn, p.pos, p.remaining = 0, 0, p.cur.Len
	if p.remaining == 0 {
		p.finish()
	}
}

func (p *frameParser) finish() {
	f := p.cur
	f.At = p.now()
	if f.Op == OpClose {
		f.Code = websocket.StatusNoStatusRcvd
		if len(f.Payload) >= 2 {
			f.Code = websocket.StatusCode(binary.BigEndian.Uint16(f.Payload))
			f.Reason = string(f.Payload[2:])
		}
	}
	p.emit(f)
	p.cur = Frame{}
}
