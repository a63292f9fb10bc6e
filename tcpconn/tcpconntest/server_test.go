package tcpconntest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/tcpconn/framing"
)

func TestEchoRecordsTheConnection(t *testing.T) {
	each(t, func(e env) {
		t := e.t
		srv := e.venue()
		c := e.dial(srv)
		for _, s := range []string{"one", "", "two"} {
			c.send(s)
			if got := c.next(); got != s {
				t.Errorf("echo = %q, want %q", got, s)
			}
		}
		_ = c.c.Close()
		e.await(srv, "the connection to end", func() bool { return srv.Stats().Open == 0 })

		got, ok := srv.Connection(1)
		if !ok {
			t.Fatal("no connection 1")
		}
		if got.N != 1 || got.Open() || got.Closed.Before(got.Opened) || got.Remote == "" {
			t.Errorf("record = %+v", got)
		}
		want := []string{"one", "", "two"}
		if diff := cmp.Diff(want, got.ReceivedText()); diff != "" {
			t.Errorf("received (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(want, got.SentText()); diff != "" {
			t.Errorf("sent (-want +got):\n%s", diff)
		}
		if !errors.Is(got.Err, io.EOF) {
			t.Errorf("Err = %v, want io.EOF (the client closed between frames)", got.Err)
		}
		if diff := cmp.Diff(Stats{Accepted: 1, Received: 3, Sent: 3}, srv.Stats()); diff != "" {
			t.Errorf("stats (-want +got):\n%s", diff)
		}
	})
}

// TestAnswers: heartbeats, logins and subscriptions are answered by the
// behaviours listed first; Discard drops the rest, and a ping unanswered
// while AnswerPings(false) holds stays unanswered.
func TestAnswers(t *testing.T) {
	each(t, func(e env) {
		t := e.t
		srv := e.venue(Default(
			AnswerPing("ping", "pong"),
			LoginAck("login:", "login ok"),
			SubAck("sub:", func(k string) string {
				if k == "silent" {
					return ""
				}
				return "subscribed " + k
			}),
			Reply(func(p []byte) ([]byte, bool) { return []byte("got " + string(p)), strings.HasPrefix(string(p), "q") }),
			Discard(),
		))
		c := e.dial(srv)
		steps := []struct{ send, want string }{
			{"data", ""}, // discarded
			{"ping", "pong"},
			{"login:secret", "login ok"},
			{"sub:BTC", "subscribed BTC"},
			{"sub:silent", ""},
			{"q1", "got q1"},
		}
		for _, s := range steps {
			c.send(s.send)
			if s.want != "" {
				if got := c.next(); got != s.want {
					t.Errorf("%q answered %q, want %q", s.send, got, s.want)
				}
			}
		}
		srv.AnswerPings(false)
		c.send("ping")
		c.silent("a ping while AnswerPings(false)")
		srv.AnswerPings(true)
		c.send("ping")
		if got := c.next(); got != "pong" {
			t.Errorf("ping answered %q after AnswerPings(true)", got)
		}
		rec, _ := srv.Connection(1)
		if diff := cmp.Diff([]string{"pong", "login ok", "subscribed BTC", "got q1", "pong"}, rec.SentText()); diff != "" {
			t.Errorf("sent (-want +got):\n%s", diff)
		}
	})
}

// TestPush: a feed on a ticker, stopped by a nil frame.
func TestPush(t *testing.T) {
	each(t, func(e env) {
		t := e.t
		every := time.Second
		if !e.exact {
			every = 10 * time.Millisecond
		}
		srv := e.venue(Default(Push(every, func(n int) []byte {
			if n > 3 {
				return nil
			}
			return fmt.Appendf(nil, "tick %d", n)
		}), Discard()))
		start := time.Now()
		c := e.dial(srv)
		var got []string
		for range 3 {
			got = append(got, c.next())
		}
		if took := time.Since(start); (e.exact && took != 3*every) || took < 3*every {
			t.Errorf("3 ticks took %v, want %v", took, 3*every)
		}
		if diff := cmp.Diff([]string{"tick 1", "tick 2", "tick 3"}, got); diff != "" {
			t.Errorf("pushed (-want +got):\n%s", diff)
		}
		c.silent("after the feed stopped")
	})
}

// isReset reports whether err is what a client sees of the venue's
// reset: a RST over TCP, the pipe closed in memory.
func (e env) isReset(err error) bool {
	if e.exact {
		return errors.Is(err, io.EOF) || errors.Is(err, io.ErrClosedPipe)
	}
	return errors.Is(err, syscall.ECONNRESET)
}

func TestReset(t *testing.T) {
	each(t, func(e env) {
		t := e.t
		srv := e.venue(Script(Plan{Echo()}, Plan{Reset()}, Plan{Echo(), After(time.Second, Reset())}))
		c := e.dial(srv)
		c.send("before")
		c.next()
		srv.ResetAll()
		if _, err := c.read(0, 0); !e.isReset(err) {
			t.Errorf("read after ResetAll = %v, want a reset", err)
		}
		// Reset alone: accept, then drop. Over TLS the RST may come
		// during the handshake.
		if c, err := e.tryDial(srv); err == nil {
			if _, err := c.read(0, 0); !e.isReset(err) {
				t.Errorf("read from Reset() = %v, want a reset", err)
			}
		} else if !e.isReset(err) {
			t.Errorf("dial to Reset() = %v, want a reset", err)
		}
		start := time.Now()
		c = e.dial(srv)
		_, err := c.read(0, 0)
		if took := time.Since(start); !e.isReset(err) || took < time.Second || e.exact && took != time.Second {
			t.Errorf("After(1s, Reset()): read = %v after %v, want a reset after 1s", err, took)
		}
		e.await(srv, "the ends", func() bool { return srv.Stats().Open == 0 })
		for _, r := range srv.Connections() {
			if r.Open() || r.Err == nil {
				t.Errorf("connection %d after its reset: %+v", r.N, r)
			}
		}
	})
}

// TestBlackhole: the connection stays open, what the client sends is
// dropped, nothing is answered; the server-wide switch turns it off again.
func TestBlackhole(t *testing.T) {
	each(t, func(e env) {
		t := e.t
		srv := e.venue(Script(Plan{Blackhole(), Echo()}))
		c := e.dial(srv)
		c.send("into the void")
		c.silent("a black hole")
		e.await(srv, "the connection", func() bool { return srv.Stats().Open == 1 })
		if st := srv.Stats(); st.Received != 0 {
			t.Errorf("stats = %+v, want nothing received", st)
		}

		c2 := e.dial(srv) // plays the default, Echo
		srv.Blackhole(true)
		c2.send("lost")
		c2.silent("Blackhole(true)")
		srv.Blackhole(false)
		c2.send("found")
		if got := c2.next(); got != "found" {
			t.Errorf("echo after Blackhole(false) = %q", got)
		}
	})
}

// TestSplit: a frame arrives in several reads, pause apart, and reads back
// whole; the length prefix itself is split.
func TestSplit(t *testing.T) {
	each(t, func(e env) {
		t := e.t
		pause := time.Second
		if !e.exact {
			pause = 50 * time.Millisecond
		}
		srv := e.venue(Framing(framing.Length32{}), Default(Split(4, pause), Echo()))
		c := e.dial(srv)
		reads := &countingConn{Conn: c.c}
		c.c = reads
		c.r.Reset(reads)
		c.send("hello")
		start := time.Now()
		if got := c.next(); got != "hello" {
			t.Errorf("split frame read as %q", got)
		}
		took := time.Since(start)
		if took < 3*pause || e.exact && took != 3*pause {
			t.Errorf("4 pieces took %v, want %v", took, 3*pause)
		}
		// TCP may merge pieces; net.Pipe hands each write to one read.
		if n := reads.reads; n < 2 || e.exact && n != 4 {
			t.Errorf("frame came in %d reads, want 4", n)
		}
	})
}

// TestOversized: the venue sends a frame over the client's limit, and
// refuses one over its own.
func TestOversized(t *testing.T) {
	each(t, func(e env) {
		t := e.t
		srv := e.venue(Framing(framing.Length32{}), ReadLimit(16), Script(Plan{Oversized(1 << 20)}))
		c := e.dial(srv)
		if _, err := c.read(0, 1024); !errors.Is(err, framing.ErrTooBig) {
			t.Errorf("read = %v, want ErrTooBig", err)
		}
		c2 := e.dial(srv)
		c2.send("within the limit")
		c2.next()
		c2.send("seventeen bytes!!")
		if _, err := c2.read(0, 0); err == nil {
			t.Error("read after an oversized frame succeeded, want the connection ended")
		}
		e.await(srv, "the end", func() bool { r, _ := srv.Connection(2); return !r.Open() })
		if r, _ := srv.Connection(2); !errors.Is(r.Err, framing.ErrTooBig) {
			t.Errorf("venue's Err = %v, want ErrTooBig", r.Err)
		}
	})
}

// TestHalfFrame: half a frame, silence, then a close is no frame but
// io.ErrUnexpectedEOF, once the venue closes.
func TestHalfFrame(t *testing.T) {
	each(t, func(e env) {
		t := e.t
		quiet := e.short()
		srv := e.venue(Framing(framing.Length32{}), Default(Raw([]byte("\x00\x00\x00\x10half")), After(quiet, Close()), Discard()))
		start := time.Now()
		c := e.dial(srv)
		_, err := c.read(0, 0)
		took := time.Since(start)
		if !errors.Is(err, io.ErrUnexpectedEOF) || took < quiet || e.exact && took != quiet {
			t.Errorf("read = %v after %v, want io.ErrUnexpectedEOF after %v", err, took, quiet)
		}
	})
}

func TestCloseAfter(t *testing.T) {
	each(t, func(e env) {
		t := e.t
		srv := e.venue(Default(Echo(), CloseAfter(2)))
		c := e.dial(srv)
		for _, s := range []string{"a", "b"} {
			c.send(s)
			if got := c.next(); got != s {
				t.Errorf("echo = %q, want %q", got, s)
			}
		}
		if p, err := c.read(0, 0); !errors.Is(err, io.EOF) {
			t.Errorf("read after 2 = %q, %v; want io.EOF", p, err)
		}
	})
}

// TestRestart: Down refuses dials and drops every connection; Up listens
// again on the same address; Restart is both.
func TestRestart(t *testing.T) {
	each(t, func(e env) {
		t := e.t
		srv := e.venue()
		addr := srv.Addr
		c := e.dial(srv)
		c.send("first") // accepted, not only queued in the listener's backlog
		c.next()
		srv.Down()
		if _, err := c.read(0, 0); err == nil {
			t.Error("a connection outlived Down")
		}
		if _, err := e.tryDial(srv); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial while Down = %v, want connection refused", err)
		}
		if err := srv.Up(); err != nil {
			t.Fatal(err)
		}
		c = e.dial(srv)
		c.send("back")
		if got := c.next(); got != "back" || srv.Addr != addr {
			t.Errorf("after Up: echo %q at %s, want %q at %s", got, srv.Addr, "back", addr)
		}
		if err := srv.Restart(); err != nil {
			t.Fatal(err)
		}
		if _, err := c.read(0, 0); err == nil {
			t.Error("a connection outlived Restart")
		}
		c = e.dial(srv)
		c.send("again")
		if got := c.next(); got != "again" {
			t.Errorf("echo after Restart = %q", got)
		}
		if got := srv.Stats().Accepted; got != 3 {
			t.Errorf("accepted %d, want 3", got)
		}
		srv.Close()
		if err := srv.Up(); !errors.Is(err, ErrClosed) {
			t.Errorf("Up after Close = %v, want ErrClosed", err)
		}
	})
}

// TestPlans: Script, Next, Choose and the default, by connection number.
func TestPlans(t *testing.T) {
	each(t, func(e env) {
		t := e.t
		say := func(s string) Behavior {
			return Func(func(_ context.Context, c *Conn) { _ = c.SendText(s) })
		}
		srv := e.venue(Script(Plan{say("script 1")}, Plan{say("script 2")}), Default(say("default")),
			Choose(func(n int) []Behavior {
				if n == 5 {
					return Plan{say("chosen")}
				}
				return nil
			}))
		srv.Next(say("next 1"))
		var got []string
		for range 6 {
			got = append(got, e.dial(srv).next())
		}
		srv.SetDefault(say("new default"))
		got = append(got, e.dial(srv).next())
		want := []string{"script 1", "script 2", "next 1", "default", "chosen", "default", "new default"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("plans (-want +got):\n%s", diff)
		}
	})
}

type countingConn struct {
	net.Conn
	reads int
}

func (c *countingConn) Read(p []byte) (int, error) {
	c.reads++
	return c.Conn.Read(p)
}

// CloseAfter(n) with n <= 0 closes at once: no frame is needed to reach
// zero, as After with d <= 0 starts at once.
func TestCloseAfterZeroOrLess(t *testing.T) {
	for _, n := range []int{0, -1} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			each(t, func(e env) {
				srv := e.venue(Default(Echo(), CloseAfter(n)))
				c, err := e.tryDial(srv)
				if err != nil { // over TLS, the close may come before the handshake ends
					if !errors.Is(err, io.EOF) {
						e.t.Errorf("CloseAfter(%d): dial = %v; want io.EOF", n, err)
					}
					return
				}
				if p, err := c.read(0, 0); !errors.Is(err, io.EOF) {
					e.t.Errorf("CloseAfter(%d): read = %q, %v; want io.EOF", n, p, err)
				}
			})
		})
	}
}

// Await with a nil cond is an error, not a panic.
func TestAwaitNilCond(t *testing.T) {
	srv := NewServer()
	defer srv.Close()
	if err := srv.Await(t.Context(), nil); err == nil || !strings.Contains(err.Error(), "nil cond") {
		t.Errorf("Await(ctx, nil) = %v, want an error naming the nil cond", err)
	}
}

// Without recording, Await still wakes on every frame: a load test waits
// on Stats.
func TestAwaitStatsWithoutRecording(t *testing.T) {
	each(t, func(e env) {
		srv := e.venue(WithoutRecording(), Default(Discard()))
		c := e.dial(srv)
		e.await(srv, "the connection", func() bool { return srv.Stats().Open == 1 })
		done := make(chan error, 1)
		go func() { done <- srv.Await(e.ctx(), func() bool { return srv.Stats().Received == 3 }) }()
		for range 3 {
			c.send("x")
		}
		if err := <-done; err != nil {
			e.t.Errorf("Await on Stats.Received: %v", err)
		}
		sent := make(chan error, 1)
		go func() { sent <- srv.Await(e.ctx(), func() bool { return srv.Stats().Sent == 1 }) }()
		go func() { _ = srv.Conns()[0].SendText("y") }()
		c.next()
		if err := <-sent; err != nil {
			e.t.Errorf("Await on Stats.Sent: %v", err)
		}
	})
}

// Await wakes on a dial refused while the venue is down.
func TestAwaitRefused(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := NewServer()
		defer srv.Close()
		srv.Down()
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- srv.Await(ctx, func() bool { return srv.Stats().Refused == 1 }) }()
		synctest.Wait()
		if _, err := srv.DialContext(ctx, "tcp", srv.Addr); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial while down = %v, want connection refused", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Await on Stats.Refused: %v", err)
		}
	})
}
