package session

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"testing"
	"testing/synctest"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// TestReceiveSizes checks the pump's reads, whose buffer is sized after the
// previous message: every message arrives whole and in order whatever the
// sizes before it (growing, same, shrinking, empty, at the read limit, in
// several frames), and a small message after a large one does not keep the
// large buffer.
func TestReceiveSizes(t *testing.T) {
	type msg struct {
		size   int
		frames int // written in this many frames; 0 or 1: one
	}
	msgs := []msg{
		{size: 0}, {size: 1}, {size: 511}, {size: 512}, {size: 513},
		{size: 1024}, {size: 1024}, {size: 1023}, {size: 70000}, {size: 10},
		{size: 10}, {size: 5000, frames: 7}, {size: 5000, frames: 3},
		{size: DefaultReadLimit}, {size: 3}, {size: DefaultReadLimit - 1, frames: 2},
	}
	body := func(i, n int) []byte {
		return bytes.Repeat([]byte{byte('a' + i%26)}, n)
	}
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, wsconntest.Default(wsconntest.Func(func(ctx context.Context, vc *wsconntest.Conn) {
			c := vc.WebSocket()
			for i, m := range msgs {
				w, err := c.Writer(ctx, websocket.MessageBinary)
				if err != nil {
					return
				}
				b := body(i, m.size)
				parts := max(m.frames, 1)
				for p := range parts {
					if _, err := w.Write(b[p*len(b)/parts : (p+1)*len(b)/parts]); err != nil {
						return
					}
				}
				if err := w.Close(); err != nil {
					return
				}
			}
		}), wsconntest.Echo()))
		got := make(chan transport.Message, len(msgs))
		c, err := dialWS(t.Context(), "ws://example.test/feed", WithHTTPClient(srv.Client()),
			OnMessage(func(_ context.Context, m transport.Message) { got <- m }))
		if err != nil {
			t.Fatalf("Dial: %v", err)
		}
		type result struct {
			Size     int
			Intact   bool
			Oversize bool // cap more than twice the size plus 512
		}
		var want, have []result
		for i, m := range msgs {
			want = append(want, result{Size: m.size, Intact: true})
			r := <-got
			have = append(have, result{
				Size:     len(r.Data),
				Intact:   bytes.Equal(r.Data, body(i, m.size)),
				Oversize: cap(r.Data) > 2*len(r.Data)+512,
			})
		}
		if diff := cmp.Diff(want, have); diff != "" {
			t.Errorf("received messages (-want +got):\n%s", diff)
		}
		if err := c.Close(t.Context()); err != nil {
			t.Errorf("Close: %v", err)
		}
		if st := c.Stats(); st.MessagesIn != uint64(len(msgs)) {
			t.Errorf("Stats.MessagesIn = %d, want %d", st.MessagesIn, len(msgs))
		}
	})
}

// TestReceiveOverLimit checks that a message one byte over the read limit
// still ends the connection after a message at the limit was received.
func TestReceiveOverLimit(t *testing.T) {
	const limit = 4096
	for _, sizes := range [][]int{{limit + 1}, {limit, limit + 1}, {10, limit + 1}} {
		t.Run(fmt.Sprint(sizes), func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				srv := startServer(t, wsconntest.Default(wsconntest.Func(func(ctx context.Context, vc *wsconntest.Conn) {
					c := vc.WebSocket()
					for _, n := range sizes {
						if err := c.Write(ctx, websocket.MessageBinary, make([]byte, n)); err != nil {
							return
						}
					}
				}), wsconntest.Echo()))
				got := make(chan int, len(sizes))
				c, err := dialWS(t.Context(), "ws://example.test/feed", WithHTTPClient(srv.Client()),
					// NoWait: the oversized message may end the connection
					// before it is released, and Dial would report that.
					NoWait(),
					WithReadLimit(limit), WithBackoff(retry.Backoff{Initial: 1, Max: 1, Multiplier: 1, MaxAttempts: 1}),
					OnMessage(func(_ context.Context, m transport.Message) { got <- len(m.Data) }))
				if err != nil {
					t.Fatalf("Dial: %v", err)
				}
				<-c.Done()
				close(got)
				var sizesGot []int
				for n := range got {
					sizesGot = append(sizesGot, n)
				}
				if diff := cmp.Diff(sizes[:len(sizes)-1], sizesGot, cmpopts.EquateEmpty()); diff != "" {
					t.Errorf("messages delivered before the oversized one (-want +got):\n%s", diff)
				}
				if st := c.Stats(); st.Connects != 1 {
					t.Errorf("Stats.Connects = %d, want 1", st.Connects)
				}
			})
		})
	}
}

// TestReadWhole checks the read of a message whose reader holds it whole
// (tcpconn's frames): the bytes unread, in a slice that is the message's
// own and not nil when empty; another reader is left to the loop.
func TestReadWhole(t *testing.T) {
	type result struct {
		OK   bool
		Data string
		Nil  bool
	}
	partly := bytes.NewBufferString("skip:abc")
	partly.Next(len("skip:"))
	tests := []struct {
		name string
		r    io.Reader
		want result
	}{
		{"whole", bytes.NewBufferString("abc"), result{OK: true, Data: "abc"}},
		{"partly read", partly, result{OK: true, Data: "abc"}},
		{"empty", new(bytes.Buffer), result{OK: true}},
		{"not whole", bytes.NewReader([]byte("abc")), result{Nil: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, ok := readWhole(tt.r)
			if diff := cmp.Diff(tt.want, result{OK: ok, Data: string(b), Nil: b == nil}); diff != "" {
				t.Errorf("readWhole (-want +got):\n%s", diff)
			}
		})
	}
	src := bytes.NewBufferString("frame")
	b, _ := readWhole(src)
	copy(src.Bytes(), "XXXXX")
	if diff := cmp.Diff("frame", string(b)); diff != "" {
		t.Errorf("the message after its source was reused (-want +got):\n%s", diff)
	}
}

// taker is a whole message whose reader may give up its buffer (Take),
// as tcpconn's long frames do.
type taker struct {
	*bytes.Buffer
	give bool
}

func (t *taker) Take() []byte {
	if !t.give {
		return nil
	}
	return t.Bytes()
}

// TestReadWholeTakes: a reader that gives up its buffer has it taken as
// the message, not copied; one that declines (nil) has its bytes copied,
// so that reusing its buffer later leaves the message as it was.
func TestReadWholeTakes(t *testing.T) {
	for _, give := range []bool{true, false} {
		t.Run(fmt.Sprintf("give=%v", give), func(t *testing.T) {
			r := &taker{Buffer: bytes.NewBufferString("frame"), give: give}
			src := r.Bytes()
			b, ok := readWhole(r)
			if !ok || string(b) != "frame" {
				t.Fatalf("readWhole = %q, %v; want \"frame\", true", b, ok)
			}
			if taken := &b[0] == &src[0]; taken != give {
				t.Errorf("message is the reader's buffer: %v, want %v", taken, give)
			}
		})
	}
}
