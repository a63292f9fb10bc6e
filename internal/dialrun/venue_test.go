package dialrun

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/wsconn"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// every is a Limiter that lets one wait through each d, as -rate does
// (rate.Every(d) with a burst of one).
type every struct {
	mu   sync.Mutex
	next time.Time
	d    time.Duration
}

func (e *every) Wait(ctx context.Context) error {
	e.mu.Lock()
	at := time.Now()
	if at.Before(e.next) {
		at = e.next
	}
	e.next = at.Add(e.d)
	e.mu.Unlock()
	t := time.NewTimer(time.Until(at))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// stormWaits returns the waits of the RetryDue lines that the storm guard
// held.
func stormWaits(lines []map[string]any) []map[string]any {
	var storm []map[string]any
	for _, l := range transitions(lines, "Reconnecting-RetryDue->Connecting") {
		if w, _ := l["wait"].(map[string]any); w["reason"] == "storm_guard" {
			storm = append(storm, w)
		}
	}
	return storm
}

// countOf counts the elements of s equal to v.
func countOf(s []string, v string) int {
	n := 0
	for _, e := range s {
		if e == v {
			n++
		}
	}
	return n
}

// TestDialAgainstVenues: dial's venue flags against loopback venues that
// behave as exchanges do, in real time.
func TestDialAgainstVenues(t *testing.T) {

	t.Run("text heartbeat", func(t *testing.T) {
		t.Parallel()
		for _, withText := range []bool{true, false} {
			srv := venue(t, wsconntest.Default(wsconntest.RequireHeartbeat(wsconntest.Heartbeat{
				Ping: "ping", Pong: "pong", Within: 400 * time.Millisecond, Code: 4004, Reason: "no ping"}), wsconntest.Echo()))
			settings := []setting{fast}
			if withText {
				settings = append(settings, func(c *Config, _ *WebSocket) { c.PingText, c.PongText = "ping", "pong" })
			}
			// With the heartbeat the venue wants, ten of its pings
			// (two and a half of its 400ms windows); without, its close.
			until := func(lines []map[string]any) bool {
				if !withText {
					return len(transitions(lines, "Alive-Lost->Reconnecting")) > 0
				}
				c, ok := srv.Connection(1)
				return ok && countOf(c.ReceivedText(), "ping") >= 10
			}
			code, stdout, lines := dialVenue(t, srv, "ten pings, or the venue's close", until, settings...)
			lost := transitions(lines, "Alive-Lost->Reconnecting")
			if withText {
				if code != ExitOK || len(lost) != 0 || stdout != "" {
					t.Errorf("with -ping-text: exit %d, %d losses, stdout %q; want 0, none, nothing (replies are not printed)", code, len(lost), stdout)
				}
				continue
			}
			if len(lost) == 0 || lost[0]["close_code"] != 4004.0 || lost[0]["close_reason"] != "no ping" {
				t.Errorf("without -ping-text: losses %v, want the venue's close 4004", lost)
			}
		}
	})

	t.Run("pong slower than the ping interval", func(t *testing.T) {
		t.Parallel()
		srv := venue(t, wsconntest.Default(wsconntest.DelayPongs(400*time.Millisecond), wsconntest.Discard()))
		code, _, lines := dialVenue(t, srv, "five pings answered 400ms late", func([]map[string]any) bool {
			c, ok := srv.Connection(1)
			return ok && len(c.FramesOf(wsconntest.FromClient, wsconntest.OpPing)) >= 5
		}, func(c *Config, _ *WebSocket) { c.Ping, c.PongTimeout = 300*time.Millisecond, 900*time.Millisecond })
		if lost := transitions(lines, "Alive-Lost->Reconnecting"); code != ExitOK || len(lost) != 0 {
			t.Errorf("exit %d, losses %v; want 0 and none", code, lost)
		}
		if n := len(srv.Connections()); n != 1 {
			t.Errorf("connections = %d, want 1", n)
		}
	})

	t.Run("zombie feed", func(t *testing.T) {
		t.Parallel()
		srv := venue(t, wsconntest.Default(wsconntest.Discard()))
		_, _, lines := dialVenue(t, srv, "a loss", func(lines []map[string]any) bool {
			return len(transitions(lines, "Alive-Lost->Reconnecting")) > 0
		}, fast, func(c *Config, _ *WebSocket) { c.IdleTimeout = 300 * time.Millisecond })
		lost := transitions(lines, "Alive-Lost->Reconnecting")
		if len(lost) == 0 || !strings.Contains(fmt.Sprint(lost[0]["cause"]), "no data within the idle timeout") {
			t.Errorf("losses %v, want the idle timeout", lost)
		}
	})

	t.Run("permanent close code", func(t *testing.T) {
		t.Parallel()
		srv := venue(t, wsconntest.Default(wsconntest.Close(4001, "invalid api key")))
		code, _, lines := dialVenue(t, srv, "the summary", func(lines []map[string]any) bool {
			return len(lines) > 0 && lines[len(lines)-1]["kind"] == "summary"
		}, fast, func(_ *Config, ws *WebSocket) { ws.PermanentCloseCodes = []wsconn.StatusCode{4001, 4003} })
		if code != ExitFail {
			t.Errorf("exit %d, want %d", code, ExitFail)
		}
		if len(lines) == 0 {
			t.Fatal("no timeline")
		}
		gaveUp := transitions(lines, "Reconnecting-GaveUp->Closed")
		if len(gaveUp) != 1 || gaveUp[0]["close_code"] != 4001.0 || gaveUp[0]["close_reason"] != "invalid api key" {
			t.Errorf("GaveUp lines %v, want one with close 4001", gaveUp)
		}
		last := lines[len(lines)-1]
		if f, _ := last["fields"].(map[string]any); last["kind"] != "summary" || f["close_code"] != 4001.0 {
			t.Errorf("summary %v, want close_code 4001", last)
		}
		if n := len(srv.Connections()); n != 1 {
			t.Errorf("connections = %d, want 1: a permanent close is not redialled", n)
		}
	})

	t.Run("storm guard", func(t *testing.T) {
		t.Parallel()
		for _, gap := range []time.Duration{300 * time.Millisecond, 0} {
			srv := venue(t, wsconntest.Default(wsconntest.Reset())) // accept, then drop
			until := func(lines []map[string]any) bool {
				if gap == 0 {
					return srv.Stats().Accepted >= 20
				}
				return len(stormWaits(lines)) > 0
			}
			_, _, lines := dialVenue(t, srv, "a storm guard wait, or 20 dials", until, func(c *Config, _ *WebSocket) {
				c.Backoff.Initial, c.Backoff.Max = time.Millisecond, time.Millisecond
				c.Storm = wsconn.StormGuard{Attempts: 3, Window: time.Minute, MinGap: gap}
			})
			storm := stormWaits(lines)
			dials := srv.Stats().Accepted
			if gap == 0 {
				if len(storm) != 0 || dials < 20 {
					t.Errorf("gap 0: %d storm guard waits, %d dials; want none and the backoff's pace", len(storm), dials)
				}
				continue
			}
			if len(storm) == 0 || storm[0]["dials"] != 3.0 || storm[0]["window_ms"] != 60000.0 || dials > 6 {
				t.Errorf("gap 300ms: storm guard waits %v, %d dials; want 3 dials within 60000ms, at most 6 dials by the first hold", storm, dials)
			}
		}
	})

	t.Run("subscriptions, paced", func(t *testing.T) {
		t.Parallel()
		srv := venue(t, wsconntest.Script(
			wsconntest.Plan{wsconntest.Discard(), wsconntest.After(800*time.Millisecond, wsconntest.Reset())},
			wsconntest.Plan{wsconntest.Discard()}))
		in, typed := io.Pipe()
		t.Cleanup(func() { _ = typed.Close() })
		var stdout, stderr syncBuffer
		wait, _ := runAsync(t, config(srv.URL+"/ws", asJSON, fast, func(c *Config, _ *WebSocket) {
			c.Rate = &every{d: 200 * time.Millisecond} // 5/s
			c.Subscribe = []string{"sub:a", "sub:b"}
		}), in, &stdout, &stderr)
		if _, err := io.WriteString(typed, "hello\n"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the second connection's subscriptions", func() bool {
			c, ok := srv.Connection(2)
			return ok && len(c.Received) >= 2
		})
		_ = typed.Close()
		if code := wait(); code != ExitOK {
			t.Fatalf("exit %d; stderr:\n%s", code, stderr.String())
		}
		got := [][]string{}
		var at []time.Time
		for _, c := range srv.Connections() {
			got = append(got, c.ReceivedText())
			for _, m := range c.Received {
				at = append(at, m.At)
			}
		}
		want := [][]string{{"sub:a", "sub:b", "hello"}, {"sub:a", "sub:b"}}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("what each connection received (-want +got):\n%s", diff)
		}
		for i := 1; i < 3; i++ { // the first connection's writes: one per 200ms
			if gap := at[i].Sub(at[i-1]); gap < 150*time.Millisecond {
				t.Errorf("write %d came %v after the one before, want about 200ms at 5/s", i, gap)
			}
		}
		var phases []string
		for _, l := range jsonLines(t, stderr.String()) {
			if l["kind"] == "transition" && l["event"] == "Synced" {
				phases = append(phases, fmt.Sprint(l["from"], " -> ", l["to"]))
			}
		}
		if len(phases) == 0 || phases[0] != "Alive/Syncing -> Alive/Ready" {
			t.Errorf("Synced steps in the JSON: %q, want the phases named", phases)
		}
	})

	t.Run("header file", func(t *testing.T) {
		t.Parallel()
		var (
			mu     sync.Mutex
			tokens []string
		)
		srv := venue(t, wsconntest.Choose(func(r *http.Request, _ int) []wsconntest.Behavior {
			mu.Lock()
			defer mu.Unlock()
			tok := r.Header.Get("Authorization")
			if slices.Contains(tokens, tok) {
				tokens = append(tokens, tok)
				return []wsconntest.Behavior{wsconntest.Refuse(http.StatusUnauthorized, nil)}
			}
			tokens = append(tokens, tok)
			return []wsconntest.Behavior{wsconntest.Echo(), wsconntest.After(300*time.Millisecond, wsconntest.Reset())}
		}))
		file := filepath.Join(t.TempDir(), "headers")
		write := func(s string) {
			if err := os.WriteFile(file, []byte(s), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		write("Authorization: Bearer tok-1\n")
		in, typed := io.Pipe()
		t.Cleanup(func() { _ = typed.Close() })
		var stdout, stderr syncBuffer
		wait, _ := runAsync(t, config(srv.URL+"/ws", asJSON, fast, func(_ *Config, ws *WebSocket) { ws.HeaderFile = file }), in, &stdout, &stderr)
		waitFor(t, "the first connection", func() bool { return len(srv.Connections()) >= 1 })
		write("# rotated\nAuthorization: Bearer tok-2\n")
		waitFor(t, "the second connection", func() bool { return len(srv.Connections()) >= 2 })
		write("Authorization: Bearer tok-3\nnot a header\n")
		waitFor(t, "a dial failed on the file", func() bool { return strings.Contains(stderr.String(), "line 2") })
		_ = typed.Close()
		wait()
		mu.Lock()
		got := slices.Clone(tokens[:2])
		mu.Unlock()
		if diff := cmp.Diff([]string{"Bearer tok-1", "Bearer tok-2"}, got); diff != "" {
			t.Errorf("tokens the venue saw (-want +got):\n%s", diff)
		}
		failed := transitions(jsonLines(t, stderr.String()), "Connecting-DialFailed->Reconnecting")
		want := "header file " + file + ", line 2: want 'Name: value'"
		if len(failed) == 0 || !strings.Contains(fmt.Sprint(failed[0]["cause"]), want) {
			t.Errorf("failed dials %v, want one naming %q", failed, want)
		}
		if strings.Contains(stderr.String(), "tok-") {
			t.Errorf("the timeline shows a token:\n%s", stderr.String())
		}
	})
}

// TestDialLogin: -login is sent first; with -login-ack the connection
// waits for it in Syncing. A venue that never acks gets its connection
// dropped and redialled, with a cause naming the login.
func TestDialLogin(t *testing.T) {
	for _, acks := range []bool{true, false} {
		t.Run(fmt.Sprintf("acks %v", acks), func(t *testing.T) {
			t.Parallel()
			srv := venue(t, wsconntest.Default(wsconntest.OnMessage(func(c *wsconntest.Conn, m wsconntest.Message) bool {
				if acks && string(m.Data) == `{"op":"login"}` {
					_ = c.SendText(context.Background(), `{"event":"login","ok":true}`)
				}
				return true
			})))
			login := func(c *Config, _ *WebSocket) {
				c.Login, c.LoginAck, c.LoginTimeout = `{"op":"login"}`, `"event":"login"`, 200*time.Millisecond
				c.Backoff.Initial, c.Backoff.Max = 50*time.Millisecond, 50*time.Millisecond
				c.Subscribe = []string{`{"op":"subscribe"}`}
			}
			until := func(lines []map[string]any) bool {
				if acks {
					return len(transitions(lines, "Alive-Synced->Alive")) > 0 || hasPhase(lines, "Alive/Ready")
				}
				return len(transitions(lines, "Alive-Lost->Reconnecting")) >= 2
			}
			_, _, lines := dialVenue(t, srv, "Ready, or two losses", until, login)
			lost := transitions(lines, "Alive-Lost->Reconnecting")
			if acks {
				if len(lost) != 0 {
					t.Errorf("losses %v, want none", lost)
				}
				c, _ := srv.Connection(1)
				if diff := cmp.Diff([]string{`{"op":"login"}`, `{"op":"subscribe"}`}, c.ReceivedText()[:min(2, len(c.ReceivedText()))]); diff != "" {
					t.Errorf("what the venue got first (-want +got):\n%s", diff)
				}
				return
			}
			if len(lost) < 2 || !strings.Contains(fmt.Sprint(lost[0]["cause"]), `login: no ack within 200ms (a message containing "event":"login")`) {
				t.Errorf("losses %v, want two naming the login", lost)
			}
			if hasPhase(lines, "Alive/Ready") {
				t.Errorf("reached Ready without the login's ack")
			}
		})
	}
}

// TestDialAnswersGzipPings: HTX sends {"ping":n} gzipped, as binary, and
// drops a client that does not answer {"pong":n}: -answer-ping ping:pong
// with -decompress gzip serves it; the pings are not printed.
func TestDialAnswersGzipPings(t *testing.T) {
	var mu sync.Mutex
	var answers []string
	srv := venue(t, wsconntest.Default(
		wsconntest.OnMessage(func(_ *wsconntest.Conn, m wsconntest.Message) bool {
			mu.Lock()
			answers = append(answers, string(m.Data))
			mu.Unlock()
			return true
		}),
		wsconntest.Func(func(ctx context.Context, c *wsconntest.Conn) {
			for n := 1; n <= 3; n++ {
				var b bytes.Buffer
				w := gzip.NewWriter(&b)
				fmt.Fprintf(w, `{"ping":%d}`, n)
				_ = w.Close()
				if c.Send(ctx, wsconntest.Binary(b.Bytes())) != nil {
					return
				}
			}
		})))
	_, stdout, _ := dialVenue(t, srv, "three answers", func([]map[string]any) bool {
		mu.Lock()
		defer mu.Unlock()
		return len(answers) >= 3
	}, func(c *Config, ws *WebSocket) {
		c.PingRequest, c.PingReply = "ping", "pong"
		ws.Decompression = wsconn.Gzip
	})
	mu.Lock()
	defer mu.Unlock()
	if diff := cmp.Diff([]string{`{"pong":1}`, `{"pong":2}`, `{"pong":3}`}, answers); diff != "" {
		t.Errorf("answers (-want +got):\n%s", diff)
	}
	if stdout != "" {
		t.Errorf("stdout %q, want nothing: answered pings are not printed", stdout)
	}
}

// subscriptionLines returns the subscription records, as
// "key: from -event-> to", with their causes.
func subscriptionLines(lines []map[string]any) (steps []string, causes map[string]string) {
	causes = map[string]string{}
	for _, l := range lines {
		if l["kind"] != "subscription" {
			continue
		}
		k, _ := l["key"].(string)
		steps = append(steps, k+": "+l["from"].(string)+" -"+l["event"].(string)+"-> "+l["to"].(string))
		if c, ok := l["cause"].(string); ok && causes[k] == "" {
			causes[k] = c // the first: a close later loses them all
		}
	}
	return steps, causes
}

// TestDialSubscribeAckNack: -subscribe-ack and -subscribe-nack resolve
// each -subscribe in the order sent; a NACK fails that one alone, with
// the venue's message in its cause, and the connection becomes Ready; the
// JSON timeline has a record of kind subscription per transition.
func TestDialSubscribeAckNack(t *testing.T) {
	srv := venue(t, wsconntest.Default(wsconntest.OnMessage(func(c *wsconntest.Conn, m wsconntest.Message) bool {
		switch text := string(m.Data); {
		case strings.Contains(text, "BAD"):
			_ = c.SendText(context.Background(), `{"event":"error","code":"60018","msg":"unknown instrument"}`)
		case strings.Contains(text, "subscribe"):
			_ = c.SendText(context.Background(), `{"event":"subscribe"}`)
		}
		return true
	})))
	subscribe := func(c *Config, _ *WebSocket) {
		c.Subscribe = []string{`{"op":"subscribe","arg":"BTC"}`, `{"op":"subscribe","arg":"BAD"}`, `{"op":"subscribe","arg":"ETH"}`}
		c.SubscribeAck, c.SubscribeNack, c.AckTimeout = `"event":"subscribe"`, `"event":"error"`, 2*time.Second
	}
	_, _, lines := dialVenue(t, srv, "Ready", func(lines []map[string]any) bool { return hasPhase(lines, "Alive/Ready") }, subscribe)
	steps, causes := subscriptionLines(lines)
	btc, bad, eth := `{"op":"subscribe","arg":"BTC"}`, `{"op":"subscribe","arg":"BAD"}`, `{"op":"subscribe","arg":"ETH"}`
	// Each key's steps in order; the keys' steps interleave as the acks
	// come.
	perKey := map[string][]string{}
	for _, st := range steps {
		for _, k := range []string{btc, bad, eth} {
			if rest, ok := strings.CutPrefix(st, k+": "); ok {
				perKey[k] = append(perKey[k], rest)
			}
		}
	}
	want := map[string][]string{
		btc: {"Pending -Send-> Subscribing", "Subscribing -Ack-> Active"},
		bad: {"Pending -Send-> Subscribing", "Subscribing -Nack-> Failed"},
		eth: {"Pending -Send-> Subscribing", "Subscribing -Ack-> Active"},
	}
	for k, w := range want {
		got := perKey[k][:min(len(perKey[k]), len(w))]
		if diff := cmp.Diff(w, got); diff != "" {
			t.Errorf("%s's subscription records (-want +got):\n%s", k, diff)
		}
	}
	if c := causes[bad]; !strings.Contains(c, "subscription refused") || !strings.Contains(c, "unknown instrument") {
		t.Errorf("%s's cause %q, want the refusal with the venue's message", bad, c)
	}
	if lost := transitions(lines, "Alive-Lost->Reconnecting"); len(lost) != 0 {
		t.Errorf("losses %v, want none: a NACK fails the subscription alone", lost)
	}
}
