package e2e

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/wsconn"
)

// TestClose closes a live client against a real peer: the peer sees a close
// frame with status 1000 and answers it, so Close returns long before the
// close timeout.
func TestClose(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		viaProxy bool
	}{
		{name: "direct"},
		{name: "through proxy", viaProxy: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newVenue(t, false)
			url := srv.URL
			if tt.viaProxy {
				url = newProxy(t, addr(t, srv)).url()
			}
			rec, msgs := newRecorder(), make(messages, 16)
			c := dial(t, url, clientOptions(rec, msgs)...)
			msgs.echo(t, c, "hello")

			ctx, cancel := context.WithTimeout(t.Context(), patience)
			defer cancel()
			start := time.Now()
			if err := c.Close(ctx); err != nil {
				t.Fatalf("Close: %v", err)
			}
			if d := time.Since(start); d > margin {
				t.Errorf("Close took %v, want within %v (the close timeout is %v)", d, margin, closeTimeout)
			}
			select {
			case <-c.Done():
			default:
				t.Error("Done not closed after Close returned")
			}
			if st := c.State(); st != connfsm.Closed {
				t.Errorf("State = %v, want Closed", st)
			}
			if err := c.Err(); !errors.Is(err, wsconn.ErrClosed) {
				t.Errorf("Err = %v, want ErrClosed", err)
			}

			first := ended(t, srv, 1, patience)
			var ce websocket.CloseError
			if !errors.As(first.Err, &ce) || ce.Code != websocket.StatusNormalClosure {
				t.Errorf("the venue's read ended with %v, want a CloseError with status %d", first.Err, websocket.StatusNormalClosure)
			}

			if diff := cmp.Diff([]string{connected, closeAlive, closeDone}, rec.Transitions()); diff != "" {
				t.Errorf("transitions (-want +got):\n%s", diff)
			}
			if s, _ := nth(rec, closeDone, 1); s.cause != nil {
				t.Errorf("close handshake error = %v, want nil", s.cause)
			}
			if err := c.SendText(ctx, "late"); !errors.Is(err, wsconn.ErrClosed) {
				t.Errorf("SendText after Close = %v, want ErrClosed", err)
			}
		})
	}
}
