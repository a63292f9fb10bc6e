package wsconntest

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/connfsm/connfsm/internal/venue"
)

// Behavior is one part of what the venue does on a connection. A
// connection plays a list of them together (a Plan): the first that
// answers the handshake itself (Refuse, Redirect, Stall, BadAccept,
// Garbage, Handshake) decides it, else the venue upgrades; then every
// behaviour's actions run at once (Push, PingClient, After(d, Reset()),
// Func), while the venue's one reader hands each message received to the
// behaviours' message handlers in the order listed, until one takes it
// (RequireHeartbeat and AppPingClient take their own replies, Echo and
// Discard take everything). A message no handler takes is only recorded.
//
// Each connection gets fresh state: a Behavior value may serve any number
// of connections. The zero Behavior does nothing.
type Behavior struct{ r venue.Recipe[part] }

// String returns the behaviour's name and settings, e.g. "After(1s, Reset)".
func (b Behavior) String() string { return b.r.String() }

// hooks are the hooks every venue has: Start (at the upgrade, before
// anything is read), Run (from the upgrade until ctx ends) and Message.
type hooks = venue.Hooks[*Conn, Message]

// part is a Behavior's hooks on one connection.
type part struct {
	hooks
	// handshake answers the request itself and reports true, or leaves it.
	handshake func(c *Conn, w http.ResponseWriter, r *http.Request) bool
	// ping runs when a ping arrives, before the pong; false: no pong.
	ping func(ctx context.Context, payload []byte) bool
}

func behavior(name string, p part) Behavior { return Behavior{venue.Fixed(name, p)} }

func (b Behavior) recipe() venue.Recipe[part] { return b.r }

func (p part) common() hooks { return p.hooks }

// Echo sends every message back, with its type. It takes every message.
func Echo() Behavior {
	return behavior("Echo", part{hooks: hooks{Message: func(c *Conn, m Message) bool {
		// A failed write ends the connection, and the reader sees it. No
		// context to cancel, as for the reads: ending the connection
		// closes its socket, which ends a write held up by a full window.
		_ = c.Send(context.Background(), Message{Type: m.Type, Data: m.Data})
		return true
	}}})
}

// Discard reads every message and sends nothing back: with no other
// behaviour, a zombie feed that answers pings (coder/websocket pongs while
// the venue reads) and never sends data. It takes every message.
func Discard() Behavior {
	return behavior("Discard", part{hooks: hooks{Message: func(*Conn, Message) bool { return true }}})
}

// Reset drops the connection at once, without a close handshake (a TCP RST
// over TCP): alone, a venue that accepts and drops; under After, a reset on
// a schedule.
func Reset() Behavior {
	return behavior("Reset", part{hooks: hooks{Run: func(_ context.Context, c *Conn) { c.Reset() }}})
}

// Blackhole makes the connection a black hole: from then on the venue
// reads nothing the client sends (it is dropped), answers nothing, pings
// included, and closes nothing: a half-open peer.
func Blackhole() Behavior {
	return behavior("Blackhole", part{hooks: hooks{Start: func(c *Conn) { c.Blackhole(true) }}})
}

// Freeze makes the venue stop reading the connection (Conn.Freeze): a peer
// that never reads, whose full receive window blocks the client's writes.
func Freeze() Behavior {
	return behavior("Freeze", part{hooks: hooks{Start: func(c *Conn) { c.Freeze() }}})
}

// Close closes the connection with a close frame carrying code and reason
// (under After, on a schedule), as a venue does for maintenance (1001),
// overload (1013) or a policy (1008, or its own 4000-4999 codes). The
// code and reason must fit a close frame, as Conn.Close says.
func Close(code websocket.StatusCode, reason string) Behavior {
	return behavior(fmt.Sprintf("Close(%d, %q)", int(code), reason), part{hooks: hooks{Run: func(_ context.Context, c *Conn) {
		_ = c.Close(code, reason)
	}}})
}

// After starts b d after the upgrade: its actions start then, and its
// message and ping handlers apply from then on. b's handshake handler, if
// any, is not used. d <= 0 starts b at once.
func After(d time.Duration, b Behavior) Behavior {
	if b.r.IsZero() {
		return Behavior{}
	}
	return Behavior{venue.NewRecipe(fmt.Sprintf("After(%v, %v)", d, b), func() part {
		inner := b.r.Make()
		var on atomic.Bool
		p := part{hooks: venue.Delay(d, inner.hooks, &on)}
		if inner.ping != nil {
			p.ping = func(ctx context.Context, payload []byte) bool { return !on.Load() || inner.ping(ctx, payload) }
		}
		return p
	})}
}

// Push sends next(1) every after the upgrade, next(2) every later, and so
// on: a feed on a schedule. A next that returns a Message whose Type is 0
// stops the feed. every <= 0 sends nothing.
func Push(every time.Duration, next func(n int) Message) Behavior {
	return behavior(fmt.Sprintf("Push(%v)", every), part{hooks: hooks{Run: func(ctx context.Context, c *Conn) {
		if next == nil {
			return
		}
		venue.Tick(ctx, every, func(n int) bool {
			m := next(n)
			return m.Type != 0 && c.Send(ctx, m) == nil
		})
	}}})
}

// Heartbeat is an application-level heartbeat the venue requires of the
// client, as OKX ("ping"/"pong") and others do.
type Heartbeat struct {
	Ping string // the client's heartbeat message, a text message compared whole
	Pong string // the venue's reply; "" replies nothing
	// Within is the longest the venue waits for a heartbeat: after the
	// upgrade and after each heartbeat. A heartbeat late closes the
	// connection. 0 waits forever (the venue only replies).
	Within time.Duration
	// Code and Reason are the close frame's; 0 means 1008 (policy
	// violation) and "" means "heartbeat timeout".
	Code   websocket.StatusCode
	Reason string
}

// RequireHeartbeat makes the venue require h: it replies to each heartbeat
// (taking it: later handlers do not see it) and closes the connection when
// one is late.
func RequireHeartbeat(h Heartbeat) Behavior {
	code, reason := closeOr(h.Code, h.Reason, "heartbeat timeout")
	return Behavior{venue.NewRecipe(fmt.Sprintf("RequireHeartbeat(%q, %q, %v)", h.Ping, h.Pong, h.Within), func() part {
		beat := make(chan struct{}, 1)
		return part{
			hooks: hooks{
				Message: func(c *Conn, m Message) bool {
					if m.Type != websocket.MessageText || string(m.Data) != h.Ping {
						return false
					}
					select {
					case beat <- struct{}{}:
					default:
					}
					if h.Pong != "" {
						_ = c.SendText(c.ctx, h.Pong)
					}
					return true
				},
				Run: func(ctx context.Context, c *Conn) {
					if h.Within <= 0 {
						return
					}
					t := time.NewTimer(h.Within)
					defer t.Stop()
					for {
						select {
						case <-ctx.Done():
							return
						case <-beat:
							t.Reset(h.Within)
						case <-t.C:
							_ = c.Close(code, reason)
							return
						}
					}
				},
			},
		}
	})}
}

// RateLimit closes the connection with status 1008 (policy violation) and
// reason "rate limit exceeded" when more than n messages arrive within any
// span of length per, as venues do to a client that bursts (a resubscribe
// storm, say). The message over the limit is taken; the others are left
// to later handlers (Echo).
func RateLimit(n int, per time.Duration) Behavior {
	return Behavior{venue.NewRecipe(fmt.Sprintf("RateLimit(%d, %v)", n, per), func() part {
		var (
			mu     sync.Mutex
			recent []time.Time
		)
		return part{hooks: hooks{Message: func(c *Conn, m Message) bool {
			mu.Lock()
			keep := recent[:0]
			for _, t := range recent {
				if m.At.Sub(t) < per {
					keep = append(keep, t)
				}
			}
			recent = append(keep, m.At)
			over := len(recent) > n
			mu.Unlock()
			if !over {
				return false
			}
			_ = c.Close(websocket.StatusPolicyViolation, "rate limit exceeded")
			return true
		}}}
	})}
}

// PingClient sends a protocol ping every interval and closes the
// connection with status 1008 and reason "pong timeout" when its pong does
// not arrive within timeout (timeout <= 0: within every). every <= 0 sends
// none.
func PingClient(every, timeout time.Duration) Behavior {
	if timeout <= 0 {
		timeout = every
	}
	return behavior(fmt.Sprintf("PingClient(%v, %v)", every, timeout), part{hooks: hooks{Run: func(ctx context.Context, c *Conn) {
		if every <= 0 {
			return
		}
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			pctx, cancel := context.WithTimeout(ctx, timeout)
			err := c.Ping(pctx)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				_ = c.Close(websocket.StatusPolicyViolation, "pong timeout")
				return
			}
		}
	}}})
}

// AppPing is an application-level ping the venue sends, and the reply it
// expects, as Binance ({"ping":n} → {"pong":n}) and others do.
type AppPing struct {
	Every   time.Duration // between pings; <= 0 sends none
	Timeout time.Duration // for the reply; <= 0 means Every
	// Ping is the n-th ping's text (n from 1); nil means {"ping":n}.
	Ping func(n int) string
	// Pong is the reply the n-th ping expects, compared whole; nil means
	// {"pong":n}.
	Pong func(n int) string
	// Code and Reason are the close frame's when a reply is late; 0 means
	// 1008 (policy violation) and "" means "pong timeout".
	Code   websocket.StatusCode
	Reason string
}

// AppPingClient makes the venue send p's pings and close the connection
// when a reply is late. Replies are taken: later handlers do not see them.
func AppPingClient(p AppPing) Behavior {
	ping, pong := p.Ping, p.Pong
	if ping == nil {
		ping = func(n int) string { return fmt.Sprintf(`{"ping":%d}`, n) }
	}
	if pong == nil {
		pong = func(n int) string { return fmt.Sprintf(`{"pong":%d}`, n) }
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = p.Every
	}
	code, reason := closeOr(p.Code, p.Reason, "pong timeout")
	return Behavior{venue.NewRecipe(fmt.Sprintf("AppPingClient(%v, %v)", p.Every, timeout), func() part {
		var (
			mu   sync.Mutex
			want string // the reply awaited, "" if none
		)
		replied := make(chan struct{}, 1)
		return part{
			hooks: hooks{
				Message: func(_ *Conn, m Message) bool {
					mu.Lock()
					defer mu.Unlock()
					if want == "" || m.Type != websocket.MessageText || string(m.Data) != want {
						return false
					}
					want = ""
					replied <- struct{}{}
					return true
				},
				Run: func(ctx context.Context, c *Conn) {
					if p.Every <= 0 {
						return
					}
					for n := 1; ; n++ {
						if !venue.Sleep(ctx, p.Every) {
							return
						}
						mu.Lock()
						want = pong(n)
						mu.Unlock()
						if c.SendText(ctx, ping(n)) != nil {
							return
						}
						t := time.NewTimer(timeout)
						select {
						case <-ctx.Done():
							t.Stop()
							return
						case <-replied:
							t.Stop()
						case <-t.C:
							_ = c.Close(code, reason)
							return
						}
					}
				},
			},
		}
	})}
}

// DelayPongs holds the pong to each protocol ping for d, as a slow or
// distant peer does. The venue's reader waits meanwhile: messages after
// the ping are read once the pong is written.
func DelayPongs(d time.Duration) Behavior {
	return behavior(fmt.Sprintf("DelayPongs(%v)", d), part{ping: func(ctx context.Context, _ []byte) bool {
		venue.Sleep(ctx, d)
		return true
	}})
}

// Func runs fn on its own goroutine from the upgrade on, with a context
// that ends with the connection (or when the venue closes): what no other
// behaviour does. fn must return when ctx ends.
func Func(fn func(ctx context.Context, c *Conn)) Behavior {
	if fn == nil {
		return Behavior{}
	}
	return behavior("Func", part{hooks: hooks{Run: fn}})
}

// OnMessage handles each message received, on the venue's reader: return
// true to take it (later handlers do not see it). While fn runs nothing
// else is read, pongs included.
func OnMessage(fn func(c *Conn, m Message) bool) Behavior {
	if fn == nil {
		return Behavior{}
	}
	return behavior("OnMessage", part{hooks: hooks{Message: fn}})
}

// closeOr returns code and reason, or the defaults 1008 and def.
func closeOr(code websocket.StatusCode, reason, def string) (websocket.StatusCode, string) {
	if code == 0 {
		code = websocket.StatusPolicyViolation
	}
	if reason == "" {
		reason = def
	}
	return code, reason
}
