package tcpconntest

import (
	"bytes"
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/connfsm/connfsm/internal/venue"
)

// Behavior is one part of what the venue does on a connection. A
// connection plays a list of them together (a Plan): every behaviour's
// actions run at once (Push, After, Func), while the venue's one reader
// hands each frame received to the behaviours' message handlers in the
// order listed, until one takes it. List AnswerPing, LoginAck and SubAck
// before Echo, so that they answer rather than echo. A frame no handler
// takes is only recorded.
//
// Each connection gets fresh state: a Behavior value may serve any number
// of connections. The zero Behavior does nothing.
type Behavior struct{ r venue.Recipe[part] }

// String returns the behaviour's name and settings, e.g. "After(1s, Reset)".
func (b Behavior) String() string { return b.r.String() }

// hooks are the hooks every venue has: Start, Run, Message.
type hooks = venue.Hooks[*Conn, Message]

// part is a Behavior's hooks on one connection.
type part struct {
	hooks
	// after runs once every handler has seen the frame.
	after func(c *Conn, m Message)
}

func behavior(name string, p part) Behavior { return Behavior{venue.Fixed(name, p)} }

func (b Behavior) recipe() venue.Recipe[part] { return b.r }

func (p part) common() hooks { return p.hooks }

// Echo sends every frame back. It takes every frame.
func Echo() Behavior {
	// A failed write ends the connection, and the reader sees it.
	return behavior("Echo", part{hooks: hooks{Message: func(c *Conn, m Message) bool { _ = c.Send(m.Data); return true }}})
}

// Discard reads every frame and sends nothing back. It takes every frame.
func Discard() Behavior {
	return behavior("Discard", part{hooks: hooks{Message: func(*Conn, Message) bool { return true }}})
}

// Reply answers the frames fn accepts (ok) with reply, and takes them; a
// nil reply takes the frame and answers nothing. fn runs on the venue's
// reader: nothing else is read meanwhile.
func Reply(fn func(p []byte) (reply []byte, ok bool)) Behavior {
	if fn == nil {
		return Behavior{}
	}
	return behavior("Reply", part{hooks: hooks{Message: func(c *Conn, m Message) bool {
		reply, ok := fn(m.Data)
		if ok && reply != nil {
			_ = c.Send(reply)
		}
		return ok
	}}})
}

// AnswerPing answers an application heartbeat: each frame equal to ping
// is taken and answered with pong, as OKX ("ping" → "pong") does. While
// Server.AnswerPings(false) holds, pings are taken and not answered.
func AnswerPing(ping, pong string) Behavior {
	return behavior(fmt.Sprintf("AnswerPing(%q, %q)", ping, pong), part{hooks: hooks{Message: func(c *Conn, m Message) bool {
		if string(m.Data) != ping {
			return false
		}
		if !c.srv.mute.Load() {
			_ = c.SendText(pong)
		}
		return true
	}}})
}

// LoginAck answers a login: each frame that begins with prefix (the rest
// is the credentials) is taken and answered with ack.
func LoginAck(prefix, ack string) Behavior {
	return behavior(fmt.Sprintf("LoginAck(%q, %q)", prefix, ack), part{hooks: hooks{Message: func(c *Conn, m Message) bool {
		if !bytes.HasPrefix(m.Data, []byte(prefix)) {
			return false
		}
		_ = c.SendText(ack)
		return true
	}}})
}

// SubAck answers subscriptions: each frame that begins with prefix ("sub:"
// in "sub:K") is taken, and answered with ack(K) unless that is "" (an
// ack that never comes). A nil ack is the zero Behavior.
func SubAck(prefix string, ack func(key string) string) Behavior {
	if ack == nil {
		return Behavior{}
	}
	return behavior(fmt.Sprintf("SubAck(%q)", prefix), part{hooks: hooks{Message: func(c *Conn, m Message) bool {
		key, ok := bytes.CutPrefix(m.Data, []byte(prefix))
		if !ok {
			return false
		}
		if a := ack(string(key)); a != "" {
			_ = c.SendText(a)
		}
		return true
	}}})
}

// Push sends next(1) every after the connection opens, next(2) every
// later, and so on: a feed on a ticker. A nil frame from next stops the
// feed; every <= 0 sends none.
func Push(every time.Duration, next func(n int) []byte) Behavior {
	return behavior(fmt.Sprintf("Push(%v)", every), part{hooks: hooks{Run: func(ctx context.Context, c *Conn) {
		if next == nil {
			return
		}
		venue.Tick(ctx, every, func(n int) bool {
			p := next(n)
			return p != nil && c.Send(p) == nil
		})
	}}})
}

// Reset drops the connection at once with a RST: alone, a venue that
// accepts and drops; under After, a reset on a schedule.
func Reset() Behavior {
	return behavior("Reset", part{hooks: hooks{Run: func(_ context.Context, c *Conn) { c.Reset() }}})
}

// Close closes the connection (a FIN, see Conn.Close): under After, on a
// schedule.
func Close() Behavior {
	return behavior("Close", part{hooks: hooks{Run: func(_ context.Context, c *Conn) { _ = c.Close() }}})
}

// CloseAfter closes the connection (a FIN, see Conn.Close) once n frames
// have been received and handled: the n-th is echoed first, if Echo is
// listed. n <= 0 closes it at once, as Close does.
func CloseAfter(n int) Behavior {
	name := fmt.Sprintf("CloseAfter(%d)", n)
	if n <= 0 {
		return behavior(name, part{hooks: hooks{Run: func(_ context.Context, c *Conn) { _ = c.Close() }}})
	}
	return Behavior{venue.NewRecipe(name, func() part {
		seen := 0 // the reader's alone
		return part{after: func(c *Conn, _ Message) {
			if seen++; seen == n {
				_ = c.Close()
			}
		}}
	})}
}

// Blackhole makes the connection a black hole (Conn.Blackhole): it stays
// open, what the client sends is read and dropped, and nothing is
// answered.
func Blackhole() Behavior {
	return behavior("Blackhole", part{hooks: hooks{Start: func(c *Conn) { c.Blackhole(true) }}})
}

// Split makes every frame the venue sends go out in pieces writes, pause
// apart (over TCP, across segments), so the client reads a frame in
// parts. It applies to what the other behaviours send.
func Split(pieces int, pause time.Duration) Behavior {
	return behavior(fmt.Sprintf("Split(%d, %v)", pieces, pause), part{hooks: hooks{Start: func(c *Conn) {
		c.wmu.Lock()
		c.splitPieces, c.splitPause = pieces, pause
		c.wmu.Unlock()
	}}})
}

// Oversized sends one frame of size bytes ("x" repeated) when the
// connection opens: over a client's read limit, it is the frame the
// client must refuse.
func Oversized(size int) Behavior {
	return behavior(fmt.Sprintf("Oversized(%d)", size), part{hooks: hooks{Run: func(_ context.Context, c *Conn) {
		_ = c.Send(bytes.Repeat([]byte("x"), max(size, 0)))
	}}})
}

// Raw writes p as it is when the connection opens (Conn.WriteRaw): half a
// frame and silence, a length prefix claiming 4 GiB, garbage.
func Raw(p []byte) Behavior {
	return behavior(fmt.Sprintf("Raw(%q)", p), part{hooks: hooks{Run: func(_ context.Context, c *Conn) { _ = c.WriteRaw(p) }}})
}

// After starts b d after the connection opens: its actions start then,
// and its message handler applies from then on. d <= 0 starts b at once.
func After(d time.Duration, b Behavior) Behavior {
	if b.r.IsZero() {
		return Behavior{}
	}
	return Behavior{venue.NewRecipe(fmt.Sprintf("After(%v, %v)", d, b), func() part {
		inner := b.r.Make()
		var on atomic.Bool
		p := part{hooks: venue.Delay(d, inner.hooks, &on)}
		if inner.after != nil {
			p.after = func(c *Conn, m Message) {
				if on.Load() {
					inner.after(c, m)
				}
			}
		}
		return p
	})}
}

// Func runs fn on its own goroutine from the start, with a context that
// ends with the connection (or when the venue closes): what no other
// behaviour does. fn must return when ctx ends.
func Func(fn func(ctx context.Context, c *Conn)) Behavior {
	if fn == nil {
		return Behavior{}
	}
	return behavior("Func", part{hooks: hooks{Run: fn}})
}

// OnMessage handles each frame received, on the venue's reader: return
// true to take it (later handlers do not see it).
func OnMessage(fn func(c *Conn, m Message) bool) Behavior {
	if fn == nil {
		return Behavior{}
	}
	return behavior("OnMessage", part{hooks: hooks{Message: fn}})
}
