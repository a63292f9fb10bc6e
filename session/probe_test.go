package session

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/connfsm/connfsm/session/transport"
)

type probeFunc func(c *Client) (ClientProbe, error)

func (f probeFunc) Attach(c *Client) (ClientProbe, error) { return f(c) }

// panicProbe panics in every method.
type panicProbe struct{ calls int }

func (p *panicProbe) Record(context.Context, record) { p.calls++; panic("record") }
func (p *panicProbe) PingRTT(time.Duration)          { panic("rtt") }
func (p *panicProbe) Handled(time.Duration, time.Duration) {
	panic("handled")
}

// TestWithProbeRefused: a nil probe, a probe given twice and a probe whose
// Attach fails are configuration errors, and nothing starts.
func TestWithProbeRefused(t *testing.T) {
	ok := probeFunc(func(*Client) (ClientProbe, error) { return &panicProbe{}, nil })
	tests := []struct {
		name string
		opts []Option
		want string
	}{
		{"nil", []Option{WithProbe(nil)}, "WithProbe: nil probe"},
		{"twice", []Option{WithProbe(ok), WithProbe(ok)}, "WithProbe: given twice"},
		{"attach fails", []Option{WithProbe(probeFunc(func(*Client) (ClientProbe, error) { return nil, errors.New("no room") }))}, "no room"},
		{"attach returns nil", []Option{WithProbe(probeFunc(func(*Client) (ClientProbe, error) { return nil, nil }))}, "nil ClientProbe"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := dialWS(context.Background(), "ws://venue.test/", append(tt.opts, NoWait())...)
			if !errors.Is(err, ErrInvalidConfig) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Dial: %v, want a configuration error with %q", err, tt.want)
			}
		})
	}
}

// TestProbePanics: a probe that panics is turned off; the client carries
// on, handles its messages and closes.
func TestProbePanics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t)
		p := &panicProbe{}
		got := make(chan string, 1)
		c, err := dialWS(t.Context(), "ws://venue.test/", WithHTTPClient(srv.Client()),
			WithProbe(probeFunc(func(*Client) (ClientProbe, error) { return p, nil })),
			OnMessage(func(_ context.Context, m transport.Message) { got <- string(m.Data) }))
		if err != nil {
			t.Fatal(err)
		}
		for _, text := range []string{"a", "b"} {
			if err := c.SendText(t.Context(), text); err != nil {
				t.Fatal(err)
			}
			if m := <-got; m != text {
				t.Errorf("echo %q, want %q", m, text)
			}
		}
		if err := c.Close(t.Context()); err != nil {
			t.Errorf("Close: %v", err)
		}
		if p.calls != 1 {
			t.Errorf("Record called %d times, want 1 (off after its panic)", p.calls)
		}
	})
}
