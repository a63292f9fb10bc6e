package echoserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// patience bounds every wait on the real network: generous, so a loaded
// machine does not flake, and finite, so a broken server fails the test.
const patience = 5 * time.Second

func start(t *testing.T) *Server {
	t.Helper()
	s, err := Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

// settledStats returns s.Stats once it counts echoed messages, or after
// patience: a message is counted once its echo is written, which may be
// after the client has read it.
func settledStats(s *Server, echoed uint64) Stats {
	deadline := time.Now().Add(patience)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for s.Stats().Echoed < echoed && time.Now().Before(deadline) {
		<-tick.C
	}
	return s.Stats()
}

func dial(t *testing.T, ctx context.Context, s *Server) *websocket.Conn {
	t.Helper()
	c, _, err := websocket.Dial(ctx, s.URL(), nil)
	if err != nil {
		t.Fatalf("dial %s: %v", s.URL(), err)
	}
	t.Cleanup(func() { _ = c.CloseNow() })
	c.SetReadLimit(-1)
	return c
}

func TestEcho(t *testing.T) {
	s := start(t)
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	c := dial(t, ctx, s)
	tests := []struct {
		name string
		typ  websocket.MessageType
		data []byte
	}{
		{"text", websocket.MessageText, []byte("hello")},
		{"empty", websocket.MessageText, []byte{}},
		{"binary", websocket.MessageBinary, []byte{0, 1, 2, 255}},
		{"large", websocket.MessageBinary, bytes.Repeat([]byte("x"), 256<<10)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := c.Write(ctx, tt.typ, tt.data); err != nil {
				t.Fatal(err)
			}
			typ, data, err := c.Read(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if typ != tt.typ || !bytes.Equal(data, tt.data) {
				t.Errorf("echo = %v %d bytes, want %v %d bytes", typ, len(data), tt.typ, len(tt.data))
			}
		})
	}
	if diff := cmp.Diff(Stats{Accepted: 1, Echoed: uint64(len(tests)), Open: 1}, settledStats(s, uint64(len(tests)))); diff != "" {
		t.Errorf("Stats (-want +got):\n%s", diff)
	}
}

func TestResetAllBreaksConnections(t *testing.T) {
	s := start(t)
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	c := dial(t, ctx, s)
	s.ResetAll()
	_, _, err := c.Read(ctx)
	if err == nil {
		t.Fatal("Read after ResetAll succeeded")
	}
	if ctx.Err() != nil {
		t.Fatalf("Read after ResetAll waited until the test's deadline: %v", err)
	}
	var ce websocket.CloseError
	if errors.As(err, &ce) {
		t.Errorf("Read after ResetAll = close frame %v, want a transport error (no close handshake)", ce)
	}
	// The server still accepts new connections.
	c2 := dial(t, ctx, s)
	if err := c2.Write(ctx, websocket.MessageText, []byte("again")); err != nil {
		t.Fatal(err)
	}
	if _, data, err := c2.Read(ctx); err != nil || string(data) != "again" {
		t.Errorf("echo after reset = %q, %v", data, err)
	}
}

func TestDownUp(t *testing.T) {
	s := start(t)
	addr := s.Addr()
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	c := dial(t, ctx, s)

	s.Down()
	if _, _, err := c.Read(ctx); err == nil || ctx.Err() != nil {
		t.Errorf("Read of a connection open at Down = %v, want a prompt error", err)
	}
	_, _, err := websocket.Dial(ctx, s.URL(), nil)
	if !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial while down = %v, want connection refused", err)
	}

	if err := s.Up(); err != nil {
		t.Fatal(err)
	}
	if s.Addr() != addr {
		t.Errorf("address after Up = %s, want %s", s.Addr(), addr)
	}
	c2 := dial(t, ctx, s)
	if err := c2.Write(ctx, websocket.MessageText, []byte("back")); err != nil {
		t.Fatal(err)
	}
	if _, data, err := c2.Read(ctx); err != nil || string(data) != "back" {
		t.Errorf("echo after Up = %q, %v", data, err)
	}
	if err := s.Up(); err == nil {
		t.Error("Up while up succeeded")
	}
}

func TestBlackhole(t *testing.T) {
	s := start(t)
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	c := dial(t, ctx, s)
	c.CloseRead(ctx) // a reader, so pongs are seen

	ping := func(c *websocket.Conn) error {
		pctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
		defer cancel()
		return c.Ping(pctx)
	}
	if err := ping(c); err != nil {
		t.Fatalf("ping before blackhole: %v", err)
	}
	s.Blackhole(true)
	if err := ping(c); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("ping into the blackhole = %v, want a timeout", err)
	}
	if got := s.Stats().Open; got != 1 {
		t.Errorf("open connections in the blackhole = %d, want 1 (nothing is closed)", got)
	}
	s.Blackhole(false)
	c2 := dial(t, ctx, s)
	c2.CloseRead(ctx)
	if err := ping(c2); err != nil {
		t.Errorf("ping after the blackhole is off: %v", err)
	}
}

func TestControl(t *testing.T) {
	s := start(t)
	h := s.Control()
	tests := []struct {
		method, target string
		wantCode       int
		wantBody       string
	}{
		{"POST", "/blackhole?on=true", http.StatusOK, "blackhole true\n"},
		{"POST", "/blackhole?on=false", http.StatusOK, "blackhole false\n"},
		{"POST", "/blackhole?on=maybe", http.StatusBadRequest, "on must be true or false, got \"maybe\"\n"},
		{"POST", "/reset", http.StatusOK, "reset\n"},
		{"GET", "/reset", http.StatusMethodNotAllowed, ""},
		{"POST", "/up", http.StatusConflict, "echoserver: already up\n"},
		{"POST", "/down", http.StatusOK, "down\n"},
		{"POST", "/up", http.StatusOK, "up\n"},
		{"GET", "/stats", http.StatusOK, "{\"accepted\":0,\"echoed\":0,\"open\":0}\n"},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(tt.method, tt.target, nil))
		if rec.Code != tt.wantCode {
			t.Errorf("%s %s = %d, want %d", tt.method, tt.target, rec.Code, tt.wantCode)
		}
		if tt.wantBody != "" {
			if diff := cmp.Diff(tt.wantBody, rec.Body.String()); diff != "" {
				t.Errorf("%s %s body (-want +got):\n%s", tt.method, tt.target, diff)
			}
		}
	}
}

func TestControlStatsCounts(t *testing.T) {
	s := start(t)
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	c := dial(t, ctx, s)
	for _, m := range []string{"a", "b", "c"} {
		if err := c.Write(ctx, websocket.MessageText, []byte(m)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Read(ctx); err != nil {
			t.Fatal(err)
		}
	}
	settledStats(s, 3)
	rec := httptest.NewRecorder()
	s.Control().ServeHTTP(rec, httptest.NewRequest("GET", "/stats", nil))
	var got map[string]int
	if err := json.NewDecoder(strings.NewReader(rec.Body.String())).Decode(&got); err != nil {
		t.Fatalf("stats %q: %v", rec.Body.String(), err)
	}
	if diff := cmp.Diff(map[string]int{"accepted": 1, "echoed": 3, "open": 1}, got); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
}

// TestCloseLeavesNothing closes a server with open, blackholed and reset
// connections and checks that no goroutine of it remains.
func TestCloseLeavesNothing(t *testing.T) {
	s, err := Start("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	var conns []*websocket.Conn
	for range 3 {
		c, _, err := websocket.Dial(ctx, s.URL(), nil)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	s.Blackhole(true)
	s.Close()
	for _, c := range conns {
		_ = c.CloseNow()
	}
	if _, _, err := websocket.Dial(ctx, s.URL(), nil); err == nil {
		t.Error("dial after Close succeeded")
	}
	goleak.VerifyNone(t)
}
