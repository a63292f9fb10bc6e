package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"

	"github.com/connfsm/connfsm/wsconn"
)

func TestMain(m *testing.M) {
	setParallel()
	goleak.VerifyTestMain(m)
}

// TestLostCause: causes are told apart by their type; a message that
// merely reads like one is "other".
func TestLostCause(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("%w: no pong within 1s", wsconn.ErrPongTimeout), causePongTimeout},
		{fmt.Errorf("%w: %w", wsconn.ErrReadFailed, io.EOF), causeRead},
		{fmt.Errorf("%w: %w", wsconn.ErrPingFailed, syscall.EPIPE), causePing},
		{errors.New("wsconn: read: looks like one"), causeOther},
		{errors.New("wsconn: ping: looks like one"), causeOther},
		{fmt.Errorf("wrapped again: %w", fmt.Errorf("%w: x", wsconn.ErrReadFailed)), causeRead},
	}
	var cnt counters
	for _, tt := range tests {
		if got := lostCause(tt.err); got != tt.want {
			t.Errorf("lostCause(%v) = %q, want %q", tt.err, got, tt.want)
		}
		cnt.lost(tt.err)
	}
	want := map[string]uint64{causePongTimeout: 1, causeRead: 2, causePing: 1, causeOther: 2}
	if diff := cmp.Diff(want, cnt.lostCauses()); diff != "" {
		t.Errorf("counts (-want +got):\n%s", diff)
	}
	if cnt.pongTimeouts.Load() != 1 {
		t.Errorf("pong timeouts = %d, want 1", cnt.pongTimeouts.Load())
	}
}

func TestPeaks(t *testing.T) {
	buckets := []int{1, 0, 5, 2, 0, 0, 0, 0, 0, 0, 0, 0, 9}
	per100, perSec := peaks(buckets)
	if per100 != 9 || perSec != 11 {
		t.Errorf("peaks = %d, %d; want 9, 11 (2+9 in the last 10 buckets)", per100, perSec)
	}
	if got := peakRate([]int{0, 10, 10, 40}, []float64{0, 0.5, 1, 1.5}); got != 50 {
		t.Errorf("peakRate = %d, want 50 (10+40 over 1s)", got)
	}
}

// TestControl drives a venue through its control endpoint.
func TestControl(t *testing.T) {
	srv, err := NewVenue("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctl := httptest.NewServer(Control(srv))
	defer ctl.Close()
	do := func(method, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, ctl.URL+path, nil)
		resp, err := ctl.Client().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, _, err := websocket.Dial(ctx, srv.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if err := c.Write(ctx, websocket.MessageText, []byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, _, err := c.Read(ctx); err != nil {
		t.Fatal(err)
	}
	if code, body := do(http.MethodPost, "/blackhole?on=maybe"); code != http.StatusBadRequest || !strings.Contains(body, `"maybe"`) {
		t.Errorf("bad blackhole value: %d %q", code, body)
	}
	code, body := do(http.MethodGet, "/stats")
	var st ControlStats
	if err := json.Unmarshal([]byte(body), &st); code != http.StatusOK || err != nil {
		t.Fatalf("stats: %d %q %v", code, body, err)
	}
	if diff := cmp.Diff(ControlStats{Accepted: 1, Echoed: 1, Open: 1}, st); diff != "" {
		t.Errorf("stats (-want +got):\n%s", diff)
	}
	if code, _ := do(http.MethodPost, "/reset"); code != http.StatusOK {
		t.Errorf("reset: %d", code)
	}
	if _, _, err := c.Read(ctx); websocket.CloseStatus(err) != -1 {
		t.Errorf("read after reset = %v, want a reset", err)
	}
	if code, _ := do(http.MethodPost, "/down"); code != http.StatusOK {
		t.Errorf("down: %d", code)
	}
	if _, _, err := websocket.Dial(ctx, srv.URL, nil); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("dial while down = %v, want refused", err)
	}
	if code, _ := do(http.MethodPost, "/up"); code != http.StatusOK {
		t.Errorf("up: %d", code)
	}
	c2, _, err := websocket.Dial(ctx, srv.URL, nil)
	if err != nil {
		t.Fatalf("dial after up: %v", err)
	}
	_ = c2.Close(websocket.StatusNormalClosure, "")
	// Up on a server that is up does nothing; 409 is for a port taken
	// while it was down.
	if code, body := do(http.MethodPost, "/up"); code != http.StatusOK {
		t.Errorf("up while up: %d %q, want 200", code, body)
	}
	do(http.MethodPost, "/down")
	taken, err := net.Listen("tcp", strings.TrimPrefix(strings.TrimSuffix(srv.URL, "/"), "ws://"))
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	if code, body := do(http.MethodPost, "/up"); code != http.StatusConflict || !strings.Contains(body, "address already in use") {
		t.Errorf("up on a taken port: %d %q, want 409 naming the address in use", code, body)
	}
}

// TestRunInterrupted: a run whose context ends stops early, closes every
// client and says so.
func TestRunInterrupted(t *testing.T) {
	if inChild(t) {
		return
	}
	ctx, cancel := context.WithCancel(t.Context())
	cfg := Config{N: 5, Duration: time.Hour, Ping: time.Second, Pong: time.Second, SendEvery: 100 * time.Millisecond,
		Sample: 50 * time.Millisecond, DownFor: time.Second, DialRate: 1000, GOGC: DefaultGOGC}
	var progress bytes.Buffer
	time.AfterFunc(time.Second, cancel)
	r, err := Run(ctx, cfg, &progress)
	if err != nil {
		t.Fatal(err)
	}
	if !r.Interrupted || r.Closed != 5 || r.Server != "embedded" || len(r.Samples) == 0 {
		t.Errorf("report %+v, want interrupted with 5 closed and samples", r)
	}
	var out bytes.Buffer
	Print(&out, r)
	for _, s := range []string{"load report: 5 clients, embedded server", "interrupted"} {
		if !strings.Contains(out.String(), s) {
			t.Errorf("report text lacks %q:\n%s", s, out.String())
		}
	}
}
