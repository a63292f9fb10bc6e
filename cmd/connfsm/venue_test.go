package main

import (
	"bytes"
	"encoding/json"
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

func TestDialVenueFlags(t *testing.T) {
	t.Run("parsed", func(t *testing.T) {
		cfg, err := parseDialFlags([]string{"-ping-text", "ping", "-pong-text", "pong", "-idle-timeout", "30s",
			"-header-file", "/run/secrets/headers", "-permanent-close-codes", "4001,4003", "-permanent-close-codes", "1008",
			"-storm-attempts", "3", "-storm-window", "10s", "-storm-gap", "2s", "ws://127.0.0.1:1/"})
		if err != nil {
			t.Fatal(err)
		}
		got := []any{cfg.run.PingText, cfg.run.PongText, cfg.run.IdleTimeout, cfg.ws.HeaderFile, cfg.ws.PermanentCloseCodes,
			cfg.run.Storm.Attempts, cfg.run.Storm.Window, cfg.run.Storm.MinGap}
		want := []any{"ping", "pong", 30 * time.Second, "/run/secrets/headers", []wsconn.StatusCode{4001, 4003, 1008},
			3, 10 * time.Second, 2 * time.Second}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("config (-want +got):\n%s", diff)
		}
	})
	t.Run("defaults", func(t *testing.T) {
		cfg, err := parseDialFlags([]string{"ws://127.0.0.1:1/"})
		if err != nil {
			t.Fatal(err)
		}
		g := wsconn.DefaultStormGuard
		if cfg.run.Storm != g || cfg.run.IdleTimeout != 0 || cfg.run.PingText != "" {
			t.Errorf("defaults = %+v, want the library's storm guard and no venue feature", cfg)
		}
	})
	usage := []struct {
		name string
		args []string
		want string
	}{
		{"ping text alone", []string{"-ping-text", "ping", "ws://127.0.0.1:1/"}, "-ping-text needs -pong-text"},
		{"pong text alone", []string{"-pong-text", "pong", "ws://127.0.0.1:1/"}, "-pong-text needs -ping-text"},
		{"close code not a number", []string{"-permanent-close-codes", "4001,x", "ws://127.0.0.1:1/"}, `invalid value "4001,x" for flag -permanent-close-codes: "x" is not a close code`},
		{"close code out of range", []string{"-permanent-close-codes", "999", "ws://127.0.0.1:1/"}, "PermanentCloseCodes: 999 is not a close code (1000 to 4999)"},
		{"negative idle timeout", []string{"-idle-timeout=-1s", "ws://127.0.0.1:1/"}, "IdleTimeout must not be negative, got -1s"},
		{"negative storm gap", []string{"-storm-gap=-1s", "ws://127.0.0.1:1/"}, "StormGuard fields must all be positive"},
	}
	for _, tt := range usage {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(t.Context(), append([]string{"dial"}, tt.args...), strings.NewReader(""), &stdout, &stderr); code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if !strings.Contains(stderr.String(), tt.want) || !strings.Contains(stderr.String(), "-storm-gap") {
				t.Errorf("stderr lacks %q or the usage:\n%s", tt.want, stderr.String())
			}
		})
	}
}

// jsonLines parses a -json stream, but for the command's own messages
// ("connfsm dial: gave up ..."), which are not timeline lines.
func jsonLines(t *testing.T, s string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(s), "\n") {
		if l == "" || strings.HasPrefix(l, "connfsm ") {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q is not JSON: %v", l, err)
		}
		out = append(out, m)
	}
	return out
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

// transitions returns the transition lines named "From-Event->To".
func transitions(lines []map[string]any, name string) []map[string]any {
	var out []map[string]any
	for _, l := range lines {
		// Alive's phases are named Alive here: the tests are about
		// connections, not phases.
		top := func(v any) string { s, _, _ := strings.Cut(fmt.Sprint(v), "/"); return s }
		if l["kind"] == "transition" && fmt.Sprintf("%v-%v->%v", top(l["from"]), l["event"], top(l["to"])) == name {
			out = append(out, l)
		}
	}
	return out
}

// dialVenue runs connfsm dial -json with args against srv until until
// holds for the JSON lines on stderr so far (what names it if it never
// does), then ends stdin (a graceful close), and returns the exit code,
// stdout and stderr's JSON lines.
func dialVenue(t *testing.T, srv *wsconntest.Server, what string, until func(lines []map[string]any) bool, args ...string) (int, string, []map[string]any) {
	t.Helper()
	in, typed := io.Pipe()
	t.Cleanup(func() { _ = typed.Close() })
	var stdout, stderr syncBuffer
	wait, _ := runAsync(t, append(append([]string{"dial", "-json"}, args...), srv.URL+"/ws"), in, &stdout, &stderr)
	waitFor(t, what, func() bool {
		s := stderr.String()
		return until(jsonLines(t, s[:strings.LastIndex(s, "\n")+1])) // whole lines only
	})
	_ = typed.Close()
	code := wait()
	t.Logf("connfsm dial %s:\n%s", strings.Join(args, " "), stderr.String())
	return code, stdout.String(), jsonLines(t, stderr.String())
}

// TestDialAgainstVenues: dial's venue flags against loopback venues that
// behave as exchanges do, in real time.
func TestDialAgainstVenues(t *testing.T) {
	fast := []string{"-ping", "100ms", "-pong-timeout", "200ms", "-backoff-initial", "50ms", "-backoff-max", "50ms"}

	t.Run("text heartbeat", func(t *testing.T) {
		t.Parallel()
		for _, withText := range []bool{true, false} {
			srv := venue(t, wsconntest.Default(wsconntest.RequireHeartbeat(wsconntest.Heartbeat{
				Ping: "ping", Pong: "pong", Within: 400 * time.Millisecond, Code: 4004, Reason: "no ping"}), wsconntest.Echo()))
			args := fast
			if withText {
				args = append([]string{"-ping-text", "ping", "-pong-text", "pong"}, fast...)
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
			code, stdout, lines := dialVenue(t, srv, "ten pings, or the venue's close", until, args...)
			lost := transitions(lines, "Alive-Lost->Reconnecting")
			if withText {
				if code != exitOK || len(lost) != 0 || stdout != "" {
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
		}, "-ping", "300ms", "-pong-timeout", "900ms")
		if lost := transitions(lines, "Alive-Lost->Reconnecting"); code != exitOK || len(lost) != 0 {
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
		}, append([]string{"-idle-timeout", "300ms"}, fast...)...)
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
		}, append([]string{"-permanent-close-codes", "4001,4003"}, fast...)...)
		if code != exitFail {
			t.Errorf("exit %d, want %d", code, exitFail)
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
		for _, gap := range []string{"300ms", "0"} {
			srv := venue(t, wsconntest.Default(wsconntest.Reset())) // accept, then drop
			until := func(lines []map[string]any) bool {
				if gap == "0" {
					return srv.Stats().Accepted >= 20
				}
				return len(stormWaits(lines)) > 0
			}
			_, _, lines := dialVenue(t, srv, "a storm guard wait, or 20 dials", until, "-backoff-initial", "1ms", "-backoff-max", "1ms",
				"-storm-attempts", "3", "-storm-window", "1m", "-storm-gap", gap)
			storm := stormWaits(lines)
			dials := srv.Stats().Accepted
			if gap == "0" {
				if len(storm) != 0 || dials < 20 {
					t.Errorf("-storm-gap 0: %d storm guard waits, %d dials; want none and the backoff's pace", len(storm), dials)
				}
				continue
			}
			if len(storm) == 0 || storm[0]["dials"] != 3.0 || storm[0]["window_ms"] != 60000.0 || dials > 6 {
				t.Errorf("-storm-gap 300ms: storm guard waits %v, %d dials; want 3 dials within 60000ms, at most 6 dials by the first hold", storm, dials)
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
		wait, _ := runAsync(t, append([]string{"dial", "-json", "-rate", "5/s", "-subscribe", "sub:a", "-subscribe", "sub:b"},
			append(fast, srv.URL+"/ws")...), in, &stdout, &stderr)
		if _, err := io.WriteString(typed, "hello\n"); err != nil {
			t.Fatal(err)
		}
		waitFor(t, "the second connection's subscriptions", func() bool {
			c, ok := srv.Connection(2)
			return ok && len(c.Received) >= 2
		})
		_ = typed.Close()
		if code := wait(); code != exitOK {
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
		wait, _ := runAsync(t, append([]string{"dial", "-json", "-header-file", file}, append(fast, srv.URL+"/ws")...), in, &stdout, &stderr)
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
