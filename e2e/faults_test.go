package e2e

import (
	"context"
	"errors"
	"io"
	"syscall"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/wsconn"
)

// TestFaultRecovery breaks a live connection through the proxy, checks how
// fast and why the client noticed, heals the path and checks that the client
// reconnected exactly once and echoes again.
func TestFaultRecovery(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// fault breaks the path of the live connection.
		fault func(t *testing.T, p *proxy, c *wsconn.Client)
		// detectWithin bounds the time from the fault to Lost.
		detectWithin time.Duration
		// lostCause checks the cause of Lost.
		lostCause func(error) bool
		// healOnLost heals inside the lifecycle, as Lost is recorded and
		// before the backoff starts: the next dial meets a healthy path.
		healOnLost bool
		// Otherwise the path is healed once failedBefore retries failed,
		// each for a reason failedCause accepts.
		failedBefore int
		failedCause  func(error) bool
		heal         func(t *testing.T, p *proxy)
		// reconnectWithin bounds the time from the heal to the new Alive.
		reconnectWithin time.Duration
		want            []string // squashed
	}{
		{
			// reset_peer closes the connection as soon as data reaches it,
			// without a close frame: the seed regression's dead peer.
			name: "reset_peer",
			fault: func(t *testing.T, p *proxy, c *wsconn.Client) {
				p.addToxic(t, `{"name":"fault","type":"reset_peer","stream":"downstream","attributes":{"timeout":0}}`)
				// The echo is data on the way down: it triggers the reset.
				if err := c.SendText(t.Context(), "trigger"); err != nil {
					t.Fatalf("SendText: %v", err)
				}
			},
			detectWithin:    margin,
			lostCause:       closedWithoutHandshake,
			healOnLost:      true,
			heal:            removeFault,
			reconnectWithin: backoffMax + margin,
			want:            []string{connected, lost, retryDue, connected},
		},
		{
			// timeout 0 is a blackhole: nothing reaches the client any more
			// and nothing is closed; only the heartbeat can tell.
			name: "blackhole",
			fault: func(t *testing.T, p *proxy, _ *wsconn.Client) {
				p.addToxic(t, `{"name":"fault","type":"timeout","stream":"downstream","attributes":{"timeout":0}}`)
			},
			detectWithin: pingInterval + pongTimeout + margin,
			lostCause:    func(err error) bool { return errors.Is(err, wsconn.ErrPongTimeout) },
			// The handshake's answer is swallowed too: dials time out.
			failedBefore:    1,
			failedCause:     func(err error) bool { return errors.Is(err, wsconn.ErrHandshakeTimeout) },
			heal:            removeFault,
			reconnectWithin: dialTimeout + backoffMax + margin,
			want:            []string{connected, lost, retryFailed, retryDue, connected},
		},
		{
			// Stopping the proxy closes its connections and its listener: a
			// server restart. The retries meet a refused connection.
			name: "restart",
			fault: func(_ *testing.T, p *proxy, _ *wsconn.Client) {
				p.Stop()
			},
			detectWithin: margin,
			lostCause:    closedWithoutHandshake,
			failedBefore: 3,
			failedCause:  func(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) },
			heal: func(t *testing.T, p *proxy) {
				if err := p.Start(); err != nil {
					t.Fatalf("proxy restart on %s: %v", p.addr, err)
				}
			},
			reconnectWithin: dialTimeout + backoffMax + margin,
			want:            []string{connected, lost, retryFailed, retryDue, connected},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newVenue(t, false)
			p := newProxy(t, addr(t, srv))
			rec, msgs := newRecorder(), make(messages, 16)
			var opts []wsconn.Option
			if tt.healOnLost {
				opts = append(opts, onLost(func() { tt.heal(t, p) }))
			}
			c := dial(t, p.url(), append(opts, clientOptions(rec, msgs)...)...)
			msgs.echo(t, c, "before")

			faultAt := time.Now()
			tt.fault(t, p, c)
			l := waitFor(t, rec, lost, 1)
			t.Logf("Lost %v after the fault: %v", l.at.Sub(faultAt), l.cause)
			if d := l.at.Sub(faultAt); d > tt.detectWithin {
				t.Errorf("Lost %v after the fault, want within %v", d, tt.detectWithin)
			}
			if !tt.lostCause(l.cause) {
				t.Errorf("Lost cause = %v, not the expected kind", l.cause)
			}

			healAt := l.at
			if !tt.healOnLost {
				for i := 1; i <= tt.failedBefore; i++ {
					if f := waitFor(t, rec, dialFailed, i); !tt.failedCause(f.cause) {
						t.Errorf("DialFailed #%d cause = %v, not the expected kind", i, f.cause)
					}
				}
				healAt = time.Now()
				tt.heal(t, p)
			}
			a := waitFor(t, rec, connected, 2)
			t.Logf("Alive again %v after the heal; transitions %q", a.at.Sub(healAt), rec.Transitions())
			if d := a.at.Sub(healAt); d > tt.reconnectWithin {
				t.Errorf("Alive again %v after the heal, want within %v", d, tt.reconnectWithin)
			}
			msgs.echo(t, c, "after")

			got, failed := squash(rec.Transitions())
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("transitions (-want +got):\n%s\nraw: %q", diff, rec.Transitions())
			}
			if failed < tt.failedBefore {
				t.Errorf("%d failed retries, want at least %d", failed, tt.failedBefore)
			}
			if st := c.Stats(); st.Reconnects != 1 || st.Connects != 2 {
				t.Errorf("Stats: Connects = %d, Reconnects = %d; want 2, 1", st.Connects, st.Reconnects)
			}
			if st := c.State(); st != connfsm.Alive {
				t.Errorf("State = %v, want Alive", st)
			}
		})
	}
}

// closedWithoutHandshake reports whether err is a read that hit the end of
// the stream with no close frame.
func closedWithoutHandshake(err error) bool {
	return err != nil && websocket.CloseStatus(err) == -1 &&
		(errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET))
}

func removeFault(t *testing.T, p *proxy) {
	if err := p.Toxics.RemoveToxic(context.Background(), "fault"); err != nil {
		t.Errorf("remove toxic: %v", err)
	}
}

// TestLatency slows both directions down: the client must stay Alive, and
// both the echo round trip and the ping RTT must include the delay.
// It measures round trips against bounds of tens of milliseconds, so it
// runs alone, before the parallel tests.
func TestLatency(t *testing.T) {
	const latency, jitter = 50, 10 // ms, each way
	minRTT := 2 * (latency - jitter) * time.Millisecond

	srv := newVenue(t, false)
	p := newProxy(t, addr(t, srv))
	rec, msgs := newRecorder(), make(messages, 16)
	// A longer pong timeout leaves room for the delay of a ping and its
	// pong even on a loaded machine.
	opts := append(clientOptions(rec, msgs), wsconn.WithHeartbeat(300*time.Millisecond, 300*time.Millisecond))
	c := dial(t, p.url(), opts...)
	if rtt := msgs.echo(t, c, "fast"); rtt >= minRTT {
		t.Fatalf("echo round trip before the toxic = %v, want < %v for the test to mean anything", rtt, minRTT)
	}

	for _, stream := range []string{"upstream", "downstream"} {
		p.addToxic(t, `{"name":"slow_`+stream+`","type":"latency","stream":"`+stream+`","attributes":{"latency":50,"jitter":10}}`)
	}
	rtt := msgs.echo(t, c, "slow")
	t.Logf("echo round trip under the toxics: %v", rtt)
	if rtt < minRTT {
		t.Errorf("echo round trip = %v, want >= %v", rtt, minRTT)
	}
	// Wait for several pings made entirely under the toxics.
	pings := c.Stats().Pings
	deadline := time.Now().Add(patience)
	tick := time.NewTicker(pingInterval / 4)
	defer tick.Stop()
	for st := c.Stats(); st.Pings < pings+4 || st.LastRTT < minRTT; st = c.Stats() {
		if time.Now().After(deadline) {
			t.Fatalf("after %v: Pings = %d (from %d), LastRTT = %v; want 4 more pings and LastRTT >= %v",
				patience, st.Pings, pings, st.LastRTT, minRTT)
		}
		<-tick.C
	}

	t.Logf("LastRTT %v after %d pings", c.Stats().LastRTT, c.Stats().Pings)
	if diff := cmp.Diff([]string{connected}, rec.Transitions()); diff != "" {
		t.Errorf("transitions (-want +got):\n%s", diff)
	}
	if st := c.Stats(); st.Reconnects != 0 {
		t.Errorf("Reconnects = %d, want 0", st.Reconnects)
	}
}
