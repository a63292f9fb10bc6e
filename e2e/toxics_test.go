package e2e

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/wsconn"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// The toxics below hold to one rule of toxiproxy v2.5: once a link's
// writer has failed (the client closed its socket) or a limit_data toxic
// has closed it, any further chunk on that link blocks a proxy goroutine
// forever. So each test arranges that nothing is in flight toward a closed
// link: no ping where the heartbeat is not under test, a server that drops
// a message rather than echo it after the client went away, and waits for
// the old connection to drain before the test ends.

// transferTime is how long n bytes take through a bandwidth toxic of rate
// KB/s, which toxiproxy counts as bytes per millisecond.
func transferTime(n, rate int) time.Duration {
	return time.Duration(n) * time.Millisecond / time.Duration(rate)
}

// TestBandwidth limits the server-to-client direction: an echo takes time
// in proportion to its size, and as long as no transfer outlasts the pong
// timeout the pongs, queued behind the data, still come in time: the
// client stays Alive through a saturated link. The client pings whether or
// not data arrives (WithAlwaysPing): by default a busy connection is not
// pinged at all, and no pong would queue behind the data.
func TestBandwidth(t *testing.T) {
	t.Parallel()
	const (
		rate = 50                     // KB/s
		ping = 600 * time.Millisecond // the pong timeout too: above the largest transfer
	)
	sizes := []int{4 << 10, 16 << 10}
	if largest := transferTime(sizes[len(sizes)-1], rate); largest >= ping {
		t.Fatalf("the largest transfer takes %v, not below the pong timeout %v", largest, ping)
	}

	srv := newVenue(t, false)
	p := newProxy(t, addr(t, srv))
	rec, msgs := newRecorder(), make(messages, 16)
	c := dial(t, p.url(), append(clientOptions(rec, msgs), wsconn.WithHeartbeat(ping, ping), wsconn.WithAlwaysPing())...)
	msgs.echo(t, c, "before")

	p.addToxic(t, fmt.Sprintf(`{"name":"bw","type":"bandwidth","stream":"downstream","attributes":{"rate":%d}}`, rate))
	rtts := make([]time.Duration, len(sizes))
	for i, n := range sizes {
		rtts[i] = msgs.echo(t, c, pattern(n))
		want := transferTime(n, rate)
		t.Logf("echo of %d bytes: %v (transfer time %v)", n, rtts[i], want)
		// toxiproxy's timers never fire early: the lower bound is firm.
		if rtts[i] < want*9/10 || rtts[i] > want+margin {
			t.Errorf("echo of %d bytes took %v, want within [%v, %v]", n, rtts[i], want*9/10, want+margin)
		}
	}
	if ratio := float64(rtts[1]) / float64(rtts[0]); ratio < 2 {
		t.Errorf("a message 4 times larger took %.1f times as long, want at least 2", ratio)
	}

	// Keep the link saturated for several ping intervals: every pong waits
	// behind at most one message.
	pings := c.Stats().Pings
	start := time.Now()
	for time.Since(start) < 3*ping {
		msgs.echo(t, c, pattern(sizes[1]))
	}
	st := c.Stats()
	t.Logf("saturated for %v: %d pings, LastRTT %v", time.Since(start), st.Pings-pings, st.LastRTT)
	if st.Pings < pings+2 {
		t.Errorf("Pings = %d during the saturated run, from %d; want at least 2 more", st.Pings, pings)
	}
	if st.LastRTT <= 0 || st.LastRTT > ping {
		t.Errorf("LastRTT = %v, want an answered ping within the pong timeout %v", st.LastRTT, ping)
	}
	if diff := cmp.Diff([]string{connected}, rec.Transitions()); diff != "" {
		t.Errorf("transitions (-want +got):\n%s", diff)
	}
	if st.Reconnects != 0 {
		t.Errorf("Reconnects = %d, want 0", st.Reconnects)
	}
}

// TestBandwidthStarvesPong limits the client-to-server direction and sends a
// message that takes longer to cross than the pong timeout. The ping
// written after it waits behind it, so its pong cannot come in time: the
// heartbeat cannot tell a slow link from a dead one, and the client drops
// the connection and reconnects. This is the documented cost of a pong
// timeout below the largest transfer time.
func TestBandwidthStarvesPong(t *testing.T) {
	t.Parallel()
	const (
		rate = 20       // KB/s
		size = 24 << 10 // below the server's read limit of 32 KiB
	)
	transfer := transferTime(size, rate)
	if transfer < 2*(pingInterval+pongTimeout) {
		t.Fatalf("a transfer of %v does not starve a pong timeout of %v", transfer, pongTimeout)
	}

	// The big message reaches the server after the client dropped the
	// connection: an echo would be data toward a closed link. The venue
	// takes messages above 1 KiB without echoing them.
	srv := newVenue(t, false, wsconntest.Default(
		wsconntest.OnMessage(func(_ *wsconntest.Conn, m wsconntest.Message) bool { return len(m.Data) > 1<<10 }),
		wsconntest.Echo()))
	p := newProxy(t, addr(t, srv))
	rec, msgs := newRecorder(), make(messages, 16)
	c := dial(t, p.url(), clientOptions(rec, msgs)...)
	msgs.echo(t, c, "before")

	p.addToxic(t, fmt.Sprintf(`{"name":"bw","type":"bandwidth","stream":"upstream","attributes":{"rate":%d}}`, rate))
	sentAt := time.Now()
	if err := c.Send(t.Context(), wsconn.Binary, make([]byte, size)); err != nil {
		t.Fatalf("Send: %v", err)
	}
	l := waitFor(t, rec, lost, 1)
	d := l.at.Sub(sentAt)
	t.Logf("Lost %v after the send (the transfer takes %v): %v", d, transfer, l.cause)
	if !errors.Is(l.cause, wsconn.ErrPongTimeout) {
		t.Errorf("Lost cause = %v, want ErrPongTimeout", l.cause)
	}
	// At least one full pong timeout, at most the next ping's.
	if d < pongTimeout || d > pingInterval+pongTimeout+margin {
		t.Errorf("Lost %v after the send, want within [%v, %v]", d, pongTimeout, pingInterval+pongTimeout+margin)
	}

	// A handshake and a short message fit the limited link easily.
	a := waitFor(t, rec, connected, 2)
	if d := a.at.Sub(l.at); d > backoffMax+margin {
		t.Errorf("Alive again %v after Lost, want within %v", d, backoffMax+margin)
	}
	msgs.echo(t, c, "after")
	if diff := cmp.Diff([]string{connected, lost, retryDue, connected}, rec.Transitions()); diff != "" {
		t.Errorf("transitions (-want +got):\n%s", diff)
	}

	// The old connection's upstream still drains into the server, which
	// reads the whole message and then sees the connection end: only then
	// may the proxy stop.
	first := ended(t, srv, 1, transfer+patience)
	d = first.Closed.Sub(sentAt)
	t.Logf("the server saw the first connection end %v after the send: %v", d, first.Err)
	if !closedWithoutHandshake(first.Err) || d < transfer {
		t.Errorf("the server saw the first connection end %v after the send with %v; want the end of the stream after the %v transfer",
			d, first.Err, transfer)
	}
}

// TestSlicer cuts every TCP write, both ways and the handshake included,
// into segments of 4 to 12 bytes with a pause after each: frames arrive in
// many reads, and every message must still arrive intact and in order,
// with the client Alive throughout.
//
// The pauses make the slicer a slow link too: toxiproxy sends a segment
// per timer, about a millisecond each under -race, so a 1000-byte echo
// takes a quarter of a second and would starve a 200ms pong timeout as
// TestBandwidthStarvesPong does. The pong timeout here leaves room for the
// largest echo.
func TestSlicer(t *testing.T) {
	t.Parallel()
	const (
		delay   = 100 * time.Microsecond
		maxCut  = 12 // average_size + size_variation
		ping    = 500 * time.Millisecond
		minPing = 3 // pings to see answered under the toxic
	)
	srv := newVenue(t, false)
	p := newProxy(t, addr(t, srv))
	for _, stream := range []string{"upstream", "downstream"} {
		p.addToxic(t, fmt.Sprintf(`{"name":"slice_%s","type":"slicer","stream":"%s","attributes":{"average_size":8,"size_variation":4,"delay":%d}}`,
			stream, stream, delay.Microseconds()))
	}
	rec, msgs := newRecorder(), make(messages, 16)
	c := dial(t, p.url(), append(clientOptions(rec, msgs), wsconn.WithHeartbeat(ping, ping))...)

	// Payload lengths around the frame header's length encodings (7 bits,
	// then 16), and one of many segments.
	for _, n := range []int{1, 125, 126, 127, 600} {
		text := pattern(n)
		rtt := echoExact(t, c, msgs, text)
		// Each way, at least one segment per 12 bytes, each but the last
		// followed by the delay before the next.
		least := 2 * time.Duration((n+maxCut-1)/maxCut-1) * delay
		t.Logf("echo of %d bytes: %v (at least %v)", n, rtt, least)
		if rtt < least {
			t.Errorf("echo of %d bytes took %v, below the %v the slicing costs: was it sliced?", n, rtt, least)
		}
	}

	pings := c.Stats().Pings
	waitUntil(t, "pings under the slicer", func() bool { return c.Stats().Pings >= pings+minPing })
	waitUntil(t, "the pings answered", func() bool { return c.Stats().LastRTT > 0 })
	if diff := cmp.Diff([]string{connected}, rec.Transitions()); diff != "" {
		t.Errorf("transitions (-want +got):\n%s", diff)
	}
	if st := c.Stats(); st.Reconnects != 0 || st.DeadPings != 0 {
		t.Errorf("Stats: Reconnects = %d, DeadPings = %d; want 0, 0", st.Reconnects, st.DeadPings)
	}
}

// TestLimitDataOnce lets a fixed number of bytes through to the client on
// the live connection, then the proxy closes it without a close frame:
// Lost as soon as the limit is crossed, and, the limit lifted, one
// reconnect after which messages echo again.
func TestLimitDataOnce(t *testing.T) {
	t.Parallel()
	const (
		limit   = 4096
		msgSize = 100
		frame   = msgSize + 2 // a server frame's header is 2 bytes below 126
		fits    = limit / frame
	)
	srv := newVenue(t, false)
	p := newProxy(t, addr(t, srv))
	rec, msgs := newRecorder(), make(messages, 16)
	opts := []wsconn.Option{onLost(func() { removeFault(t, p) })}
	// No ping: a pong would be one more chunk toward the closed link.
	opts = append(append(opts, clientOptions(rec, msgs)...), wsconn.WithHeartbeat(patience, patience))
	c := dial(t, p.url(), opts...)
	msgs.echo(t, c, "before")

	// The toxic's count starts when it is added: the handshake is not in it.
	p.addToxic(t, fmt.Sprintf(`{"name":"fault","type":"limit_data","stream":"downstream","attributes":{"bytes":%d}}`, limit))
	echoed, crossedAt := 0, time.Time{}
	for {
		text := fmt.Sprintf("%0*d", msgSize, echoed)
		crossedAt = time.Now()
		if !echoOrLost(t, c, msgs, rec, text) {
			break
		}
		echoed++
	}
	l, _ := nth(rec, lost, 1)
	t.Logf("%d echoes of %d bytes, Lost %v after the next send: %v", echoed, frame, l.at.Sub(crossedAt), l.cause)
	if echoed != fits {
		t.Errorf("%d echoes before Lost, want %d (%d bytes of %d-byte frames)", echoed, fits, limit, frame)
	}
	if !closedWithoutHandshake(l.cause) {
		t.Errorf("Lost cause = %v, want the stream's end without a close frame", l.cause)
	}
	if d := l.at.Sub(crossedAt); d > margin {
		t.Errorf("Lost %v after the send that crossed the limit, want within %v", d, margin)
	}

	a := waitFor(t, rec, connected, 2)
	if d := a.at.Sub(l.at); d > backoffMax+margin {
		t.Errorf("Alive again %v after Lost, want within %v", d, backoffMax+margin)
	}
	msgs.echo(t, c, "after")
	if diff := cmp.Diff([]string{connected, lost, retryDue, connected}, rec.Transitions()); diff != "" {
		t.Errorf("transitions (-want +got):\n%s", diff)
	}
	if st := c.Stats(); st.Reconnects != 1 {
		t.Errorf("Reconnects = %d, want 1", st.Reconnects)
	}
}

// TestLimitDataEveryConnection puts the limit on every connection: each
// one completes its handshake, sends its subscription from OnConnect and
// is cut while the answer comes back, a server that accepts and drops at
// once. No connection stays up for the stable period, so the backoff keeps
// growing, and once the storm guard's number of dials happened within its
// window, dials are at least its gap apart: no tight loop.
func TestLimitDataEveryConnection(t *testing.T) {
	t.Parallel()
	const (
		limit = 512     // above the handshake's answer
		sub   = 1 << 10 // the subscription, whose echo crosses the limit
		dials = 8       // the dials to watch
	)
	guard := wsconn.StormGuard{Attempts: 4, Window: 10 * time.Second, MinGap: 400 * time.Millisecond}
	b := wsconn.Backoff{Initial: backoffInitial, Max: backoffMax, Multiplier: 2}

	srv := newVenue(t, false)
	p := newProxy(t, addr(t, srv))
	p.addToxic(t, fmt.Sprintf(`{"name":"fault","type":"limit_data","stream":"downstream","attributes":{"bytes":%d}}`, limit))
	rec, msgs := newRecorder(), make(messages, 16)
	opts := append(clientOptions(rec, msgs),
		wsconn.WithHeartbeat(patience, patience), // no ping: see TestLimitDataOnce
		wsconn.WithBackoff(b),
		wsconn.WithStormGuard(guard),
		wsconn.OnConnect(func(ctx context.Context, s *wsconn.Session) error {
			return s.SendText(ctx, pattern(sub))
		}),
	)
	start := time.Now()
	c := dial(t, p.url(), opts...)
	waitFor(t, rec, retryDue, dials-1)
	// Close in Reconnecting, while the guard holds the next dial back:
	// a close handshake would be data after the limit.
	waitFor(t, rec, lost, dials)
	closeClient(t, c)

	at := []time.Time{start} // each dial's start: Dial, then each RetryDue
	for i := 1; i < dials; i++ {
		s, _ := nth(rec, retryDue, i)
		at = append(at, s.at)
	}
	gaps := make([]time.Duration, dials-1)
	for i := range gaps {
		gaps[i] = at[i+1].Sub(at[i]).Round(time.Millisecond)
	}
	t.Logf("gaps between dials: %v", gaps)
	// Before the guard engages: the jittered backoff, whose cap doubles.
	for i := 0; i < guard.Attempts-1; i++ {
		if limit := min(b.Max, b.Initial<<i) + margin; gaps[i] > limit {
			t.Errorf("gap %d = %v, want at most %v: the client must keep retrying", i+1, gaps[i], limit)
		}
	}
	// Then the guard: the recorded RetryDue comes a moment after the dial
	// time the guard counts from, so allow a little.
	const early = 20 * time.Millisecond
	for i := guard.Attempts - 1; i < len(gaps); i++ {
		if gaps[i] < guard.MinGap-early {
			t.Errorf("gap %d = %v, want at least %v once %d dials happened within %v", i+1, gaps[i], guard.MinGap, guard.Attempts, guard.Window)
		}
	}
	// In any case: at most Attempts dials, then one per MinGap.
	span := at[dials-1].Sub(at[0])
	if most := guard.Attempts + int(span/(guard.MinGap-early)); dials > most {
		t.Errorf("%d dials in %v, want at most %d", dials, span, most)
	}

	var want []string
	for range dials {
		want = append(want, connected, lost, retryDue)
	}
	want = append(want[:len(want)-1], "Reconnecting-Close->Closed")
	if diff := cmp.Diff(want, rec.Transitions()); diff != "" {
		t.Errorf("transitions (-want +got):\n%s", diff)
	}
	for i := 1; i <= dials; i++ {
		if s, _ := nth(rec, lost, i); !closedWithoutHandshake(s.cause) {
			t.Errorf("Lost #%d cause = %v, want the stream's end without a close frame", i, s.cause)
		}
	}
}

// pattern returns n bytes of text in which every position depends on its
// index, so a lost, repeated or reordered segment changes the message.
func pattern(n int) string {
	const alphabet = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	var b strings.Builder
	b.Grow(n)
	for i := range n {
		b.WriteByte(alphabet[(i+i/len(alphabet))%len(alphabet)])
	}
	return b.String()
}

// echoExact sends text and checks that the next message received is
// exactly it; it returns the round trip.
func echoExact(t *testing.T, c *wsconn.Client, msgs messages, text string) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	start := time.Now()
	if err := c.SendText(ctx, text); err != nil {
		t.Fatalf("SendText(%d bytes): %v", len(text), err)
	}
	select {
	case m := <-msgs:
		rtt := time.Since(start)
		if diff := cmp.Diff(text, string(m.Data)); diff != "" || m.Type != wsconn.Text {
			t.Fatalf("echo of %d bytes (type %v) differs (-want +got):\n%s", len(text), m.Type, diff)
		}
		return rtt
	case <-ctx.Done():
		t.Fatalf("no echo of %d bytes within %v", len(text), patience)
		return 0
	}
}

// echoOrLost sends text and waits for its echo (true) or for the first
// Lost (false), at most patience.
func echoOrLost(t *testing.T, c *wsconn.Client, msgs messages, rec *recorder, text string) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	if err := c.SendText(ctx, text); err != nil {
		t.Fatalf("SendText: %v", err)
	}
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for {
		if _, ok := nth(rec, lost, 1); ok {
			return false
		}
		select {
		case m := <-msgs:
			if string(m.Data) == text {
				return true
			}
		case <-tick.C: // Lost may come meanwhile
		case <-ctx.Done():
			t.Fatalf("neither an echo of %q nor Lost within %v; steps: %q", text, patience, rec.Transitions())
		}
	}
}

// waitUntil polls cond until it holds, at most patience.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(patience)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, patience)
		}
		<-tick.C
	}
}
