package wsconntest

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"
)

func TestEchoRecordsTheConnection(t *testing.T) {
	each(t, func(e env) {
		srv := e.venue()
		c := e.dial(srv, "/feed?token=abc", &websocket.DialOptions{HTTPHeader: http.Header{"X-Key": {"k1"}}})
		for _, s := range []string{"one", "two"} {
			c.send(e, s)
			if got := c.next(e); got != s {
				t.Errorf("echo = %q, want %q", got, s)
			}
		}
		if err := c.ws.Close(websocket.StatusNormalClosure, "done"); err != nil {
			t.Fatalf("close: %v", err)
		}
		e.await(srv, "the connection to end", func() bool { return srv.Stats().Open == 0 })

		got, ok := srv.Connection(1)
		if !ok {
			t.Fatal("no connection 1")
		}
		if got.N != 1 || got.Path != "/feed" || got.Query.Get("token") != "abc" || got.Header.Get("X-Key") != "k1" ||
			got.Status != http.StatusSwitchingProtocols || !got.Upgraded || got.Open() || got.Closed.Before(got.Opened) {
			t.Errorf("record = %+v", got)
		}
		if diff := cmp.Diff([]string{"one", "two"}, got.ReceivedText()); diff != "" {
			t.Errorf("received (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff([]string{"one", "two"}, got.SentText()); diff != "" {
			t.Errorf("sent (-want +got):\n%s", diff)
		}
		want := []string{
			"from client text", "to client text", "from client text", "to client text",
			"from client close StatusNormalClosure done", "to client close StatusNormalClosure done",
		}
		if diff := cmp.Diff(want, frames(srv, 1)); diff != "" {
			t.Errorf("frames (-want +got):\n%s", diff)
		}
		if websocket.CloseStatus(got.Err) != websocket.StatusNormalClosure {
			t.Errorf("Err = %v, want the client's close 1000", got.Err)
		}
		st := srv.Stats()
		if diff := cmp.Diff(Stats{Accepted: 1, Handshakes: 1, Upgraded: 1, Received: 2, Sent: 2}, st); diff != "" {
			t.Errorf("stats (-want +got):\n%s", diff)
		}
	})
}

// TestZombie: Discard answers pings and sends no data.
func TestZombie(t *testing.T) {
	each(t, func(e env) {
		srv := e.venue(Default(Discard()))
		c := e.dial(srv, "/", nil)
		c.send(e, "anyone there?")
		if err := c.ws.Ping(e.ctx()); err != nil {
			t.Fatalf("ping a zombie: %v", err)
		}
		got, _ := srv.Connection(1)
		if diff := cmp.Diff([]string{"anyone there?"}, got.ReceivedText()); diff != "" {
			t.Errorf("received (-want +got):\n%s", diff)
		}
		if len(got.Sent) != 0 || len(c.msgs) != 0 {
			t.Errorf("a zombie sent %v", got.Sent)
		}
		if diff := cmp.Diff([]string{"from client text", "from client ping", "to client pong"}, frames(srv, 1)); diff != "" {
			t.Errorf("frames (-want +got):\n%s", diff)
		}
	})
}

func TestResetAll(t *testing.T) {
	each(t, func(e env) {
		srv := e.venue()
		c := e.dial(srv, "/", nil)
		c.send(e, "before")
		c.next(e)
		srv.ResetAll()
		if err := c.end(e); err == nil || websocket.CloseStatus(err) != -1 {
			t.Errorf("read after a reset = %v, want an error without a close frame", err)
		}
		e.await(srv, "the venue to see the end", func() bool { return srv.Stats().Open == 0 })
		got, _ := srv.Connection(1)
		if _, ok := got.CloseFrom(ToClient); ok || got.Err == nil || got.Closed.IsZero() {
			t.Errorf("record after a reset = %+v, want no close frame, an Err and Closed", got)
		}
		again := e.dial(srv, "/", nil) // later connections are not affected
		again.send(e, "after")
		if got := again.next(e); got != "after" {
			t.Errorf("echo after the reset = %q", got)
		}
	})
}

// TestAcceptThenDrop: Reset alone upgrades and drops at once.
func TestAcceptThenDrop(t *testing.T) {
	each(t, func(e env) {
		srv := e.venue(Default(Reset()))
		// Over TCP the RST may overtake the 101 in the client's socket, so
		// the dial itself may fail; either way no close frame is seen.
		if ws, err := e.tryDial(srv, "/", nil); err == nil {
			_, _, err = ws.Read(e.ctx())
			if err == nil || websocket.CloseStatus(err) != -1 {
				t.Errorf("read = %v, want an error without a close frame", err)
			}
			_ = ws.CloseNow()
		}
		e.await(srv, "the drop", func() bool { return srv.Stats().Open == 0 && srv.Stats().Upgraded == 1 })
		got, _ := srv.Connection(1)
		if !got.Upgraded || len(got.Frames) != 0 {
			t.Errorf("record = %+v, want upgraded, no frame", got)
		}
	})
}

func TestBlackhole(t *testing.T) {
	each(t, func(e env) {
		t := e.t
		srv := e.venue(Default(Echo()))
		c := e.dial(srv, "/", nil)
		srv.Blackhole(true)
		start := time.Now()
		ctx, cancel := context.WithTimeout(e.ctx(), 100*time.Millisecond)
		err := c.ws.Ping(ctx)
		cancel()
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("ping into the black hole = %v, want the deadline", err)
		}
		e.atLeast("ping gave up", time.Since(start), 100*time.Millisecond)
		c.send(e, "lost")
		e.await(srv, "the ping and the message to arrive", func() bool { return len(frames(srv, 1)) == 2 })
		// A handshake meanwhile is never answered.
		hctx, hcancel := context.WithTimeout(e.ctx(), 100*time.Millisecond)
		_, _, herr := websocket.Dial(hctx, srv.URL, &websocket.DialOptions{HTTPClient: srv.Client()})
		hcancel()
		if herr == nil {
			t.Error("a handshake with the black hole succeeded")
		}

		srv.Blackhole(false)
		c.send(e, "back")
		if got := c.next(e); got != "back" {
			t.Errorf("after the black hole: %q, want %q", got, "back")
		}
		got, _ := srv.Connection(1)
		if diff := cmp.Diff([]string{"back"}, got.SentText()); diff != "" {
			t.Errorf("sent (-want +got):\n%s", diff)
		}
		want := []string{"from client ping", "from client text", "from client text", "to client text"}
		if diff := cmp.Diff(want, frames(srv, 1)); diff != "" {
			t.Errorf("frames: the black hole read and answered nothing (-want +got):\n%s", diff)
		}
	})
}

func TestBlackholeOneConnection(t *testing.T) {
	each(t, func(e env) {
		srv := e.venue(Script(Plan{Echo(), Blackhole()}))
		dark := e.dial(srv, "/", nil)
		other := e.dial(srv, "/", nil)
		ctx, cancel := context.WithTimeout(e.ctx(), 100*time.Millisecond)
		defer cancel()
		if err := dark.ws.Ping(ctx); !errors.Is(err, context.DeadlineExceeded) {
			e.t.Errorf("ping into the dark connection = %v, want the deadline", err)
		}
		other.send(e, "y")
		if got := other.next(e); got != "y" {
			e.t.Errorf("the other connection echoed %q", got)
		}
		if n := len(frames(srv, 1)); n != 1 {
			e.t.Errorf("frames of the dark connection %q, want only the ping read", frames(srv, 1))
		}
	})
}

func TestCloseWithCode(t *testing.T) {
	each(t, func(e env) {
		srv := e.venue(Script(Plan{Echo(), After(100*time.Millisecond, Close(4001, "invalid api key"))}))
		c := e.dial(srv, "/", nil)
		err := c.end(e)
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != 4001 || ce.Reason != "invalid api key" {
			e.t.Errorf("end = %v, want close 4001 invalid api key", err)
		}
		e.await(srv, "the close handshake", func() bool { return srv.Stats().Open == 0 })
		got, _ := srv.Connection(1)
		f, ok := got.CloseFrom(ToClient)
		if !ok || f.Code != 4001 || f.Reason != "invalid api key" {
			e.t.Errorf("close frame sent = %+v, %v", f, ok)
		}
		e.atLeast("closed", f.At.Sub(got.Opened), 100*time.Millisecond)
		if _, ok := got.CloseFrom(FromClient); !ok {
			e.t.Error("the client's close frame is not recorded")
		}
	})
}

func TestCloseAllAndConnsOnCue(t *testing.T) {
	each(t, func(e env) {
		srv := e.venue(Default(Discard()))
		a, b := e.dial(srv, "/a", nil), e.dial(srv, "/b", nil)
		e.await(srv, "two connections", func() bool { return srv.Stats().Open == 2 })
		conns := srv.Conns()
		if len(conns) != 2 || conns[0].N() != 1 || conns[1].Request().URL.Path != "/b" {
			e.t.Fatalf("Conns = %v", conns)
		}
		if err := conns[1].SendText(e.ctx(), "for b"); err != nil {
			e.t.Fatal(err)
		}
		if got := b.next(e); got != "for b" {
			e.t.Errorf("b got %q", got)
		}
		srv.CloseAll(websocket.StatusGoingAway, "maintenance")
		for _, c := range []*client{a, b} {
			if err := c.end(e); websocket.CloseStatus(err) != websocket.StatusGoingAway {
				e.t.Errorf("end = %v, want 1001", err)
			}
		}
		if n := len(srv.Conns()); n != 0 {
			e.t.Errorf("%d connections open after CloseAll returned", n)
		}
	})
}

// plan is a test case's plan that does not depend on the venue.
func plan(b ...Behavior) func(*Server) Plan { return func(*Server) Plan { return b } }

func TestHandshakes(t *testing.T) {
	tests := []struct {
		name       string
		plan       func(srv *Server) Plan
		wantStatus int    // of the first request's record
		wantErr    string // in the dial's error; "" means the dial succeeds
		wantHeader http.Header
		wantDials  int64 // handshake requests the dial made
	}{
		{name: "refused with Retry-After", plan: plan(Refuse(http.StatusServiceUnavailable, http.Header{"Retry-After": {"7"}})),
			wantStatus: 503, wantErr: "503", wantHeader: http.Header{"Retry-After": {"7"}}, wantDials: 1},
		{name: "refused with a nonsense status", plan: plan(Refuse(42, nil)), wantStatus: 500, wantErr: "500", wantDials: 1},
		{name: "redirected", plan: plan(Redirect(http.StatusTemporaryRedirect, "/v2")), wantStatus: 307, wantDials: 2},
		{name: "redirected to a ws URL", plan: func(srv *Server) Plan { return Plan{Redirect(http.StatusFound, srv.URL+"/v2")} }, wantStatus: 302, wantDials: 2},
		{name: "bad accept", plan: plan(BadAccept()), wantStatus: 101, wantErr: "Sec-WebSocket-Accept", wantDials: 1},
		{name: "garbage after the upgrade", plan: plan(Garbage([]byte{0xff, 0x13, 0x37, 0x00, 0x00})), wantStatus: 101, wantDials: 1},
		{name: "handshake func", plan: plan(Handshake(func(w http.ResponseWriter, r *http.Request) bool {
			if r.Header.Get("Authorization") == "" {
				http.Error(w, "who are you", http.StatusUnauthorized)
				return true
			}
			return false
		})), wantStatus: 401, wantErr: "401", wantDials: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			each(t, func(e env) {
				srv := e.venue()
				srv.Next(tt.plan(srv)...)
				ws, resp, err := websocket.Dial(e.ctx(), srv.URL+"/v1", &websocket.DialOptions{HTTPClient: srv.Client()})
				if ws != nil {
					defer ws.CloseNow()
				}
				switch {
				case tt.wantErr == "" && err != nil:
					e.t.Fatalf("dial: %v", err)
				case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
					e.t.Fatalf("dial = %v, want an error with %q", err, tt.wantErr)
				}
				if tt.wantHeader != nil {
					if resp == nil || resp.Header.Get("Retry-After") != tt.wantHeader.Get("Retry-After") {
						e.t.Errorf("response %v, want header %v", resp, tt.wantHeader)
					}
				}
				got, _ := srv.Connection(1)
				if got.Status != tt.wantStatus || got.Upgraded || got.Path != "/v1" {
					e.t.Errorf("record 1: status %d, upgraded %v, path %q; want %d, false, /v1", got.Status, got.Upgraded, got.Path, tt.wantStatus)
				}
				if tt.wantDials > 0 {
					if n := srv.Stats().Handshakes; n != tt.wantDials {
						e.t.Errorf("handshakes = %d, want %d", n, tt.wantDials)
					}
				}
				if strings.HasPrefix(tt.name, "redirected") {
					e.await(srv, "the upgrade", func() bool { return srv.Stats().Upgraded == 1 })
					second, _ := srv.Connection(2)
					if second.Path != "/v2" || !second.Upgraded {
						e.t.Errorf("record 2 = %+v, want the upgrade at /v2", second)
					}
				}
				if tt.name == "garbage after the upgrade" {
					_, _, err := ws.Read(e.ctx())
					if err == nil || websocket.CloseStatus(err) != -1 {
						e.t.Errorf("read after garbage = %v, want a protocol error", err)
					}
				}
			})
		})
	}
}

// TestRedirectLoop: a venue that redirects to the same path serves the
// loop until the client stops it. (coder/websocket replaces the HTTP
// client's CheckRedirect, and without one of the caller's it follows
// redirects forever: this client stops after 10, as Go's default does.)
func TestRedirectLoop(t *testing.T) {
	each(t, func(e env) {
		srv := e.venue(Default(Redirect(http.StatusFound, "/loop")))
		hc := *srv.Client()
		hc.CheckRedirect = func(_ *http.Request, via []*http.Request) error {
			if len(via) >= 10 {
				return errors.New("stopped after 10 redirects")
			}
			return nil
		}
		_, _, err := websocket.Dial(e.ctx(), srv.URL+"/loop", &websocket.DialOptions{HTTPClient: &hc})
		if err == nil || !strings.Contains(err.Error(), "stopped after 10 redirects") {
			e.t.Errorf("dial = %v, want the redirect loop stopped", err)
		}
		e.await(srv, "every request answered", func() bool { return len(srv.Connections()) == 10 })
		for _, c := range srv.Connections() {
			if c.Status != http.StatusFound || c.Path != "/loop" {
				e.t.Errorf("request %d: status %d path %q", c.N, c.Status, c.Path)
			}
		}
	})
}

func TestStall(t *testing.T) {
	each(t, func(e env) {
		srv := e.venue(Default(Stall()))
		start := time.Now()
		ctx, cancel := context.WithTimeout(e.ctx(), 200*time.Millisecond)
		defer cancel()
		_, _, err := websocket.Dial(ctx, srv.URL, &websocket.DialOptions{HTTPClient: srv.Client()})
		if !errors.Is(err, context.DeadlineExceeded) {
			e.t.Errorf("dial = %v, want the deadline", err)
		}
		e.atLeast("the dial gave up", time.Since(start), 200*time.Millisecond)
		e.await(srv, "the stalled handler to end", func() bool {
			c, _ := srv.Connection(1)
			return !c.Closed.IsZero()
		})
		if c, _ := srv.Connection(1); c.Status != 0 {
			e.t.Errorf("status = %d, want 0 (never answered)", c.Status)
		}
	})
}

// TestStallThenClose: Close returns while a handshake is stalled, and
// leaves nothing behind (goleak in TestMain).
func TestStallThenClose(t *testing.T) {
	each(t, func(e env) {
		srv := e.venue(Default(Stall()))
		done := make(chan error, 1)
		go func() {
			_, _, err := websocket.Dial(context.Background(), srv.URL, &websocket.DialOptions{HTTPClient: srv.Client()})
			done <- err
		}()
		e.await(srv, "the request", func() bool { return srv.Stats().Handshakes == 1 })
		srv.Close()
		if err := <-done; err == nil {
			e.t.Error("dial to a closed venue succeeded")
		}
	})
}

func TestPush(t *testing.T) {
	each(t, func(e env) {
		const every = 100 * time.Millisecond
		srv := e.venue(Default(Push(every, func(n int) Message {
			if n > 3 {
				return Message{}
			}
			return Text(fmt.Sprintf("tick %d", n))
		})))
		c := e.dial(srv, "/", nil)
		for i := 1; i <= 3; i++ {
			if got, want := c.next(e), fmt.Sprintf("tick %d", i); got != want {
				e.t.Errorf("message %d = %q, want %q", i, got, want)
			}
		}
		got, _ := srv.Connection(1)
		for i, m := range got.Sent {
			e.atLeast(fmt.Sprintf("tick %d", i+1), m.At.Sub(got.Opened), time.Duration(i+1)*every)
		}
		if e.exact {
			time.Sleep(10 * every) // virtual: the feed has stopped
			if got, _ := srv.Connection(1); len(got.Sent) != 3 {
				e.t.Errorf("%d messages pushed, want 3", len(got.Sent))
			}
		}
	})
}

func TestRequireHeartbeat(t *testing.T) {
	each(t, func(e env) {
		const within = 200 * time.Millisecond
		srv := e.venue(Default(RequireHeartbeat(Heartbeat{Ping: "ping", Pong: "pong", Within: within}), Echo()))
		c := e.dial(srv, "/", nil)
		lastPing := time.Now()
		c.send(e, "ping")
		if got := c.next(e); got != "pong" {
			e.t.Errorf("heartbeat reply = %q, want pong", got)
		}
		c.send(e, "hello")
		if got := c.next(e); got != "hello" {
			e.t.Errorf("echo = %q, want hello", got)
		}
		err := c.end(e)
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || ce.Reason != "heartbeat timeout" {
			e.t.Errorf("end = %v, want close 1008 heartbeat timeout", err)
		}
		e.atLeast("closed for a missing heartbeat", time.Since(lastPing), within)
		got, _ := srv.Connection(1)
		if diff := cmp.Diff([]string{"pong", "hello"}, got.SentText()); diff != "" {
			e.t.Errorf("sent: the heartbeat is answered, not echoed (-want +got):\n%s", diff)
		}
	})
}

func TestRateLimit(t *testing.T) {
	each(t, func(e env) {
		srv := e.venue(Default(RateLimit(3, time.Minute), Echo()))
		c := e.dial(srv, "/", nil)
		for i := range 4 {
			c.send(e, fmt.Sprint(i))
		}
		for i := range 3 {
			if got := c.next(e); got != fmt.Sprint(i) {
				e.t.Errorf("echo %d = %q", i, got)
			}
		}
		err := c.end(e)
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || ce.Reason != "rate limit exceeded" {
			e.t.Errorf("end = %v, want close 1008 rate limit exceeded", err)
		}
	})
}

// TestRateLimitWindow: messages spread over more than the period pass.
func TestRateLimitWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := NewServer(Default(RateLimit(2, time.Second), Echo()))
		defer srv.Close()
		e := env{transport: transports[0], t: t}
		c := e.dial(srv, "/", nil)
		for i := range 6 {
			c.send(e, fmt.Sprint(i))
			c.next(e)
			time.Sleep(600 * time.Millisecond) // at most 2 in any second
		}
		if n := len(srv.Conns()); n != 1 {
			t.Errorf("%d connections open, want 1: the limit was not exceeded", n)
		}
	})
}

func TestPingClient(t *testing.T) {
	each(t, func(e env) {
		srv := e.venue(Default(Discard(), PingClient(100*time.Millisecond, 50*time.Millisecond)))
		e.dial(srv, "/answers", nil)
		e.await(srv, "three pings answered", func() bool {
			c, _ := srv.Connection(1)
			return len(c.FramesOf(FromClient, OpPong)) == 3
		})
		if got, _ := srv.Connection(1); len(got.FramesOf(ToClient, OpPing)) != 3 {
			e.t.Errorf("pings = %d, want 3; frames %q", len(got.FramesOf(ToClient, OpPing)), frames(srv, 1))
		}
		// A client that reads but never answers a ping is closed.
		silent := e.dial(srv, "/silent", &websocket.DialOptions{OnPingReceived: func(context.Context, []byte) bool { return false }})
		err := silent.end(e)
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || ce.Reason != "pong timeout" {
			e.t.Errorf("end = %v, want close 1008 pong timeout", err)
		}
		e.await(srv, "the venue to end it", func() bool { return srv.Stats().Open == 1 })
		got, _ := srv.Connection(2)
		e.atLeast("closed", got.Closed.Sub(got.Opened), 150*time.Millisecond)
	})
}

func TestAppPingClient(t *testing.T) {
	each(t, func(e env) {
		srv := e.venue(Default(AppPingClient(AppPing{Every: 100 * time.Millisecond, Timeout: 50 * time.Millisecond}), Echo()))
		c := e.dial(srv, "/", nil)
		if got := c.next(e); got != `{"ping":1}` {
			e.t.Fatalf("first message = %q, want the ping", got)
		}
		c.send(e, `{"pong":1}`)
		if got := c.next(e); got != `{"ping":2}` {
			e.t.Errorf("after the reply: %q, want the next ping (the reply is not echoed)", got)
		}
		err := c.end(e) // no reply to the second
		var ce websocket.CloseError
		if !errors.As(err, &ce) || ce.Code != websocket.StatusPolicyViolation || ce.Reason != "pong timeout" {
			e.t.Errorf("end = %v, want close 1008 pong timeout", err)
		}
	})
}

func TestDelayPongs(t *testing.T) {
	each(t, func(e env) {
		const delay = 200 * time.Millisecond
		srv := e.venue(Default(Echo(), DelayPongs(delay)))
		c := e.dial(srv, "/", nil)
		start := time.Now()
		if err := c.ws.Ping(e.ctx()); err != nil {
			e.t.Fatal(err)
		}
		e.atLeast("pong", time.Since(start), delay)
	})
}

func TestDownAndUp(t *testing.T) {
	each(t, func(e env) {
		srv := e.venue()
		c := e.dial(srv, "/", nil)
		srv.Down()
		if err := c.end(e); websocket.CloseStatus(err) != -1 {
			e.t.Errorf("open connection after Down: %v, want a reset", err)
		}
		if _, err := e.tryDial(srv, "/", nil); !errors.Is(err, syscall.ECONNREFUSED) {
			e.t.Errorf("dial while down = %v, want connection refused", err)
		}
		if err := srv.Up(); err != nil {
			e.t.Fatalf("Up: %v", err)
		}
		again := e.dial(srv, "/", nil)
		again.send(e, "back")
		if got := again.next(e); got != "back" {
			e.t.Errorf("echo after Up = %q", got)
		}
		st := srv.Stats()
		wantRefused := int64(0)
		if e.name == "memory" {
			wantRefused = 1
		}
		if st.Accepted != 2 || st.Refused != wantRefused {
			e.t.Errorf("stats %+v, want 2 accepted, %d refused", st, wantRefused)
		}
		srv.Close()
		if err := srv.Up(); !errors.Is(err, ErrClosed) {
			e.t.Errorf("Up after Close = %v, want ErrClosed", err)
		}
	})
}

func TestNextSetDefaultChoose(t *testing.T) {
	each(t, func(e env) {
		srv := e.venue(Choose(func(r *http.Request, _ int) []Behavior {
			if r.URL.Path == "/discard" {
				return []Behavior{Discard()}
			}
			return nil
		}))
		srv.Next(Refuse(http.StatusTooManyRequests, nil))
		if _, err := e.tryDial(srv, "/", nil); err == nil || !strings.Contains(err.Error(), "429") {
			e.t.Errorf("dial after Next(Refuse(429)) = %v", err)
		}
		echo := e.dial(srv, "/", nil)
		echo.send(e, "x")
		if got := echo.next(e); got != "x" {
			e.t.Errorf("echo %q", got)
		}
		quiet := e.dial(srv, "/discard", nil)
		quiet.send(e, "dropped")
		srv.SetDefault(Close(websocket.StatusTryAgainLater, "busy"))
		busy := e.dial(srv, "/", nil)
		if err := busy.end(e); websocket.CloseStatus(err) != websocket.StatusTryAgainLater {
			e.t.Errorf("after SetDefault: %v, want close 1013", err)
		}
		e.await(srv, "the dropped message", func() bool {
			c, _ := srv.Connection(3)
			return len(c.Received) == 1
		})
		if c, _ := srv.Connection(3); len(c.Sent) != 0 {
			e.t.Errorf("/discard sent %v", c.SentText())
		}
	})
}

func TestWithoutRecording(t *testing.T) {
	each(t, func(e env) {
		srv := e.venue(WithoutRecording())
		c := e.dial(srv, "/", nil)
		c.send(e, "x")
		c.next(e)
		conns := srv.Connections()
		if len(conns) != 1 || len(conns[0].Received) != 0 || len(conns[0].Frames) != 0 || !conns[0].Open() {
			e.t.Errorf("open connections = %+v, want one, without messages or frames", conns)
		}
		_ = c.ws.Close(websocket.StatusNormalClosure, "")
		e.await(srv, "the end", func() bool { return srv.Stats().Open == 0 })
		if n := len(srv.Connections()); n != 0 {
			e.t.Errorf("%d records kept after the close, want 0", n)
		}
		if st := srv.Stats(); st.Received != 1 || st.Sent != 1 || st.Upgraded != 1 {
			e.t.Errorf("stats %+v, want the counts kept", st)
		}
	})
}

func TestFuncAndOnMessage(t *testing.T) {
	each(t, func(e env) {
		srv := e.venue(Default(
			OnMessage(func(c *Conn, m Message) bool {
				if string(m.Data) == "upper" {
					_ = c.SendText(context.Background(), "UPPER")
					return true
				}
				return false
			}),
			Func(func(ctx context.Context, c *Conn) {
				_ = c.SendText(ctx, "welcome "+c.Request().URL.Query().Get("user"))
			}),
			Echo(),
		))
		c := e.dial(srv, "/?user=ann", nil)
		if got := c.next(e); got != "welcome ann" {
			e.t.Errorf("greeting %q", got)
		}
		c.send(e, "upper")
		c.send(e, "lower")
		if got := []string{c.next(e), c.next(e)}; !cmp.Equal(got, []string{"UPPER", "lower"}) {
			e.t.Errorf("replies %q", got)
		}
	})
}

func TestTLS(t *testing.T) {
	srv, err := NewTLSServer("")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if !strings.HasPrefix(srv.URL, "wss://127.0.0.1:") {
		t.Errorf("URL = %q", srv.URL)
	}
	e := env{transport: transports[1], t: t}
	c := e.dial(srv, "/secure", nil)
	c.send(e, "over TLS")
	if got := c.next(e); got != "over TLS" {
		t.Errorf("echo %q", got)
	}
	want := []string{"from client text", "to client text"}
	if diff := cmp.Diff(want, frames(srv, 1)); diff != "" {
		t.Errorf("frames, parsed under TLS (-want +got):\n%s", diff)
	}
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	_, _, err = websocket.Dial(ctx, srv.URL, nil) // the default client does not trust it
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("dial with an untrusting client = %v, want a certificate error", err)
	}
}

func TestTCPAddress(t *testing.T) {
	if _, err := NewTCPServer("127.0.0.1"); err == nil || !strings.Contains(err.Error(), `"127.0.0.1"`) {
		t.Errorf("NewTCPServer without a port = %v, want an error naming the address", err)
	}
}

func TestBehaviorNames(t *testing.T) {
	got := []string{
		Echo().String(), After(time.Second, Close(4000, "x")).String(), Behavior{}.String(), After(time.Second, Behavior{}).String(),
	}
	want := []string{"Echo", `After(1s, Close(4000, "x"))`, "none", "none"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
}

// TestFreeze: a venue that stops reading. In memory the client's write
// blocks at once; over TCP once the socket buffers are full. Either way a
// write bounded by a deadline fails by it, and the venue read nothing.
func TestFreeze(t *testing.T) {
	each(t, func(e env) {
		srv := e.venue(Default(Echo(), Freeze()))
		ws, err := e.tryDial(srv, "/", nil)
		if err != nil {
			e.t.Fatal(err)
		}
		defer ws.CloseNow()
		big := make([]byte, 1<<20)
		ctx, cancel := context.WithTimeout(e.ctx(), 200*time.Millisecond)
		defer cancel()
		var werr error
		for i := 0; werr == nil && i < 64; i++ { // 64 MiB: beyond any socket buffer
			werr = ws.Write(ctx, websocket.MessageBinary, big)
		}
		if !errors.Is(werr, context.DeadlineExceeded) {
			e.t.Errorf("writes to a frozen venue = %v, want the deadline", werr)
		}
		if got, _ := srv.Connection(1); len(got.Frames) != 0 || len(got.Received) != 0 {
			e.t.Errorf("a frozen venue read %d frames", len(got.Frames))
		}
	})
}

// TestAcceptOptionsAndReadLimit: the venue negotiates the subprotocols it
// is given and closes a connection whose message is above its read limit.
func TestAcceptOptionsAndReadLimit(t *testing.T) {
	each(t, func(e env) {
		srv := e.venue(AcceptOptions(websocket.AcceptOptions{Subprotocols: []string{"feed.v2"}}), ReadLimit(8))
		c := e.dial(srv, "/", &websocket.DialOptions{Subprotocols: []string{"feed.v1", "feed.v2"}})
		if got := c.ws.Subprotocol(); got != "feed.v2" {
			e.t.Errorf("subprotocol = %q, want feed.v2", got)
		}
		c.send(e, "12345678")
		if got := c.next(e); got != "12345678" {
			e.t.Errorf("echo = %q", got)
		}
		c.send(e, "123456789")
		if err := c.end(e); websocket.CloseStatus(err) != websocket.StatusMessageTooBig {
			e.t.Errorf("end = %v, want close 1009", err)
		}
		e.await(srv, "the end", func() bool { return srv.Stats().Open == 0 })
		if rec, _ := srv.Connection(1); rec.Subprotocol != "feed.v2" || len(rec.Received) != 1 {
			e.t.Errorf("record: subprotocol %q, %d received; want feed.v2, 1", rec.Subprotocol, len(rec.Received))
		}
	})
}

// Concurrent sends (Push, Func, Echo at once) are recorded in Sent in
// the order the client receives them.
func TestSentInWireOrder(t *testing.T) {
	each(t, func(e env) {
		const senders, per = 6, 1000
		var plan []Behavior
		for s := range senders {
			plan = append(plan, Func(func(ctx context.Context, c *Conn) {
				for i := range per {
					if c.SendText(ctx, fmt.Sprintf("%c%d", 'a'+s, i)) != nil {
						return
					}
				}
			}))
		}
		srv := e.venue(Default(plan...))
		for n := 1; n <= 5; n++ {
			c := e.dial(srv, "/", nil)
			var got []string
			for range senders * per {
				got = append(got, c.next(e))
			}
			var rec Connection
			e.await(srv, "sent", func() bool { rec, _ = srv.Connection(n); return len(rec.Sent) == senders*per })
			if diff := cmp.Diff(got, rec.SentText()); diff != "" {
				e.t.Fatalf("connection %d: Sent is not in the order the client got them (-client +record):\n%s", n, diff)
			}
			_ = c.ws.CloseNow()
		}
	})
}

// ReadLimit of zero or less means no limit, as tcpconntest's does: a
// message larger than coder/websocket's own default limit is echoed.
func TestReadLimitZeroOrLessIsNoLimit(t *testing.T) {
	for _, n := range []int64{0, -1, -7} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			each(t, func(e env) {
				srv := e.venue(ReadLimit(n))
				c := e.dial(srv, "/", &websocket.DialOptions{})
				c.ws.SetReadLimit(-1)
				big := strings.Repeat("x", 40000) // over coder/websocket's 32 KiB default
				for _, msg := range []string{"hi", big} {
					c.send(e, msg)
					if got := c.next(e); got != msg {
						e.t.Errorf("ReadLimit(%d): echo of %d bytes = %d bytes", n, len(msg), len(got))
					}
				}
			})
		})
	}
}

// A close code that cannot go in a close frame, or a reason too long for
// one, drops the connection without a close frame; 1005 sends a close
// frame without a status.
func TestCloseCodesThatCannotBeSent(t *testing.T) {
	for _, tc := range []struct {
		name   string
		code   websocket.StatusCode
		reason string
		want   websocket.StatusCode // the client's CloseStatus; -1: no close frame
	}{
		{"1000", websocket.StatusNormalClosure, "bye", websocket.StatusNormalClosure},
		{"4999", 4999, "", 4999},
		{"1005 has no status", websocket.StatusNoStatusRcvd, "", websocket.StatusNoStatusRcvd},
		{"0", 0, "", -1},
		{"1004", 1004, "", -1},
		{"1006", websocket.StatusAbnormalClosure, "", -1},
		{"5000", 5000, "", -1},
		{"reason of 124 bytes", websocket.StatusNormalClosure, strings.Repeat("x", 124), -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			each(t, func(e env) {
				srv := e.venue(Default(Close(tc.code, tc.reason)))
				c := e.dial(srv, "/", nil)
				if got := websocket.CloseStatus(c.end(e)); got != tc.want {
					e.t.Errorf("the client's close status = %v, want %v", got, tc.want)
				}
				e.await(srv, "the end", func() bool { return srv.Stats().Open == 0 })
				rec, _ := srv.Connection(1)
				if _, sent := rec.CloseFrom(ToClient); sent != (tc.want != -1) {
					e.t.Errorf("close frame sent: %v, want %v", sent, tc.want != -1)
				}
			})
		})
	}
}

// A handshake made while the venue is a black hole is never answered, and
// the venue does not close its connection either: the client's own
// timeout is what ends it, however long it is.
func TestBlackholeHandshakeStaysOpen(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := NewServer()
		defer srv.Close()
		srv.Blackhole(true)
		ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
		defer cancel()
		start := time.Now()
		_, _, err := websocket.Dial(ctx, srv.URL, &websocket.DialOptions{HTTPClient: srv.Client()})
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) != time.Minute {
			t.Errorf("dial into the black hole ended after %v with %v, want the client's deadline after 1m0s", time.Since(start), err)
		}
		if got := srv.Stats(); got.Accepted != 1 || got.Handshakes != 0 {
			t.Errorf("stats = %+v, want 1 accepted and no handshake", got)
		}
	})
}

// Down resets every connection, those whose dial races it included: none
// is served while the venue is down.
func TestDownRacingDials(t *testing.T) {
	const venues = 250
	leaked := 0
	for range venues {
		synctest.Test(t, func(t *testing.T) {
			srv := NewServer(Default(Discard()))
			defer srv.Close()
			var (
				wg   sync.WaitGroup
				mu   sync.Mutex
				held []*websocket.Conn // open until the venue drops them
			)
			defer func() {
				for _, ws := range held {
					ws.CloseNow()
				}
			}()
			for range 8 {
				wg.Go(func() {
					for {
						ws, _, err := websocket.Dial(t.Context(), srv.URL, &websocket.DialOptions{HTTPClient: srv.Client()})
						if err != nil {
							return // refused: the venue is down
						}
						mu.Lock()
						held = append(held, ws)
						mu.Unlock()
					}
				})
			}
			_ = srv.Await(t.Context(), func() bool { return srv.Stats().Handshakes >= 16 })
			srv.Down()
			synctest.Wait()
			if srv.Stats().Open != 0 {
				leaked++
			}
			srv.Close()
			wg.Wait()
		})
	}
	if leaked > 0 {
		t.Errorf("%d of %d venues served a connection after Down returned", leaked, venues)
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

// Without recording, Await still wakes on every message: a load test
// waits on Stats.
func TestAwaitStatsWithoutRecording(t *testing.T) {
	each(t, func(e env) {
		srv := e.venue(WithoutRecording(), Default(Discard()))
		c := e.dial(srv, "/", nil)
		e.await(srv, "the connection", func() bool { return srv.Stats().Open == 1 })
		done := make(chan error, 1)
		go func() { done <- srv.Await(e.ctx(), func() bool { return srv.Stats().Received == 3 }) }()
		for range 3 {
			c.send(e, "x")
		}
		if err := <-done; err != nil {
			e.t.Errorf("Await on Stats.Received: %v", err)
		}
		sent := make(chan error, 1)
		go func() { sent <- srv.Await(e.ctx(), func() bool { return srv.Stats().Sent == 1 }) }()
		if err := srv.Conns()[0].SendText(e.ctx(), "y"); err != nil {
			e.t.Fatal(err)
		}
		c.next(e)
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
		if _, _, err := websocket.Dial(ctx, srv.URL, &websocket.DialOptions{HTTPClient: srv.Client()}); !errors.Is(err, syscall.ECONNREFUSED) {
			t.Errorf("dial while down = %v, want connection refused", err)
		}
		if err := <-done; err != nil {
			t.Errorf("Await on Stats.Refused: %v", err)
		}
	})
}

// Await wakes on a connection accepted whose handshake never comes (the
// venue is a black hole).
func TestAwaitAccepted(t *testing.T) {
	each(t, func(e env) {
		srv := e.venue()
		srv.Blackhole(true)
		ctx, cancel := context.WithCancel(e.ctx())
		defer cancel()
		go func() { _, _ = e.tryDial(srv, "/", nil) }()
		if err := srv.Await(ctx, func() bool { return srv.Stats().Accepted == 1 }); err != nil {
			e.t.Errorf("Await on Stats.Accepted: %v", err)
		}
		srv.ResetAll()
	})
}
