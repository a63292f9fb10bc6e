package e2e

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/rs/zerolog"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/fsm/fsmtest"
	"github.com/connfsm/connfsm/wsconn"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// Short real-time settings: a dead peer is detected within
// pingInterval + pongTimeout, a retry waits at most backoffMax.
const (
	pingInterval     = 200 * time.Millisecond
	pongTimeout      = 200 * time.Millisecond
	handshakeTimeout = 300 * time.Millisecond // what TestHandshakeTimeout checks
	dialTimeout      = time.Second            // every other client's handshake timeout
	closeTimeout     = 2 * time.Second
	backoffInitial   = 50 * time.Millisecond
	backoffMax       = 200 * time.Millisecond

	// margin absorbs scheduling delays under -race on a loaded machine; it
	// is well below the periods it is added to, times a few.
	margin = 500 * time.Millisecond
	// patience bounds every wait for something that must happen, so a
	// broken client fails the test instead of hanging it.
	patience = 5 * time.Second
)

// The lifecycle steps the tests expect, as "From-Event->To".
const (
	connected   = "Connecting-Connected->Alive"
	dialFailed  = "Connecting-DialFailed->Reconnecting"
	lost        = "Alive-Lost->Reconnecting"
	retryDue    = "Reconnecting-RetryDue->Connecting"
	gaveUp      = "Reconnecting-GaveUp->Closed"
	closeAlive  = "Alive-Close->Closing"
	closeDone   = "Closing-CloseDone->Closed"
	retryFailed = retryDue + " " + dialFailed // one failed retry, as squash writes it
)

// recorder keeps the client's lifecycle records (fsmtest). Its
// Transitions, Count and Nth name Alive's phases Alive, and leave out the
// step between them: these tests are about connections, not phases.
type recorder struct {
	fsmtest.Recorder[connfsm.State, connfsm.Event]
}

func (r *recorder) Transitions() []string { return r.TransitionsBy(connfsm.TopTransition) }

func (r *recorder) Nth(name string, n int) (fsm.Record[connfsm.State, connfsm.Event], bool) {
	return r.NthBy(connfsm.TopTransition, name, n)
}

func newRecorder() *recorder { return new(recorder) }

// step is one recorded transition.
type step struct {
	name  string
	at    time.Time
	cause error // the event's payload when it is an error
}

// nth returns the n-th (from 1) transition called name.
func nth(rec *recorder, name string, n int) (step, bool) {
	r, ok := rec.Nth(name, n)
	if !ok {
		return step{}, false
	}
	s := step{name: name, at: r.When}
	s.cause, _ = r.Payload.(error)
	return s, true
}

// waitFor waits until the n-th transition called name is recorded, at
// most patience, and returns it.
func waitFor(t *testing.T, rec *recorder, name string, n int) step {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	err := rec.Wait(ctx, func([]fsm.Record[connfsm.State, connfsm.Event]) bool {
		_, ok := rec.Nth(name, n)
		return ok
	})
	if err != nil {
		t.Fatalf("no %s #%d within %v; steps: %q", name, n, patience, rec.Transitions())
	}
	s, _ := nth(rec, name, n)
	return s
}

// onLost returns an observer option that runs fn inside the lifecycle as
// the live connection is lost, before the step is recorded: give it
// before clientOptions.
func onLost(fn func()) wsconn.Option {
	return wsconn.OnRecord(func(_ context.Context, r fsm.Record[connfsm.State, connfsm.Event]) {
		if r.Kind != fsm.RecordTransition {
			return
		}
		if r.From.Within(connfsm.Alive) && r.Event == connfsm.Lost {
			fn()
		}
	})
}

// squash writes each run of failed retries (RetryDue then DialFailed) as one
// retryFailed step, so a sequence with a variable number of failed attempts
// compares with cmp.Diff, and returns how many attempts the runs held.
func squash(names []string) (out []string, failedRetries int) {
	for i := 0; i < len(names); i++ {
		if i+1 < len(names) && names[i] == retryDue && names[i+1] == dialFailed {
			failedRetries++
			if len(out) == 0 || out[len(out)-1] != retryFailed {
				out = append(out, retryFailed)
			}
			i++
			continue
		}
		out = append(out, names[i])
	}
	return out, failedRetries
}

// newVenue starts a WebSocket venue (wsconntest) on 127.0.0.1, over TLS if
// tls is set: it echoes unless opts say otherwise, and it is closed when
// the test ends, every connection and goroutine of it gone.
func newVenue(t *testing.T, tls bool, opts ...wsconntest.Option) *wsconntest.Server {
	t.Helper()
	start := wsconntest.NewTCPServer
	if tls {
		start = wsconntest.NewTLSServer
	}
	srv, err := start("", opts...)
	if err != nil {
		t.Fatalf("venue: %v", err)
	}
	t.Cleanup(srv.Close)
	return srv
}

// addr is a venue's host:port, for a proxy in front of it.
func addr(t *testing.T, srv *wsconntest.Server) string {
	t.Helper()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatalf("venue URL %q: %v", srv.URL, err)
	}
	return u.Host
}

// ended waits until the venue's n-th connection has ended, at most
// within, and returns its record.
func ended(t *testing.T, srv *wsconntest.Server, n int, within time.Duration) wsconntest.Connection {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	var c wsconntest.Connection
	err := srv.Await(ctx, func() bool {
		c, _ = srv.Connection(n)
		return !c.Closed.IsZero()
	})
	if err != nil {
		t.Fatalf("the venue's connection %d did not end within %v", n, within)
	}
	return c
}

// proxy is an in-process toxiproxy proxy listening on 127.0.0.1, stopped
// when the test ends.
type proxy struct {
	*toxiproxy.Proxy
	addr string // the listen address; kept across Stop and Start
}

func newProxy(t *testing.T, upstream string) *proxy {
	t.Helper()
	srv := toxiproxy.NewServer(toxiproxy.NewMetricsContainer(nil), zerolog.Nop())
	p := toxiproxy.NewProxy(srv, t.Name(), "127.0.0.1:0", upstream)
	if err := p.Start(); err != nil {
		t.Fatalf("proxy start: %v", err)
	}
	t.Cleanup(p.Stop) // closes the listener and every proxied connection
	return &proxy{Proxy: p, addr: p.Listen}
}

func (p *proxy) url() string { return "ws://" + p.addr + "/" }

// addToxic adds a toxic given as toxiproxy's JSON.
func (p *proxy) addToxic(t *testing.T, toxicJSON string) {
	t.Helper()
	if _, err := p.Toxics.AddToxicJson(strings.NewReader(toxicJSON)); err != nil {
		t.Fatalf("add toxic %s: %v", toxicJSON, err)
	}
}

// messages collects the client's received messages.
type messages chan wsconn.Message

func (m messages) option() wsconn.Option {
	return wsconn.OnMessage(func(ctx context.Context, msg wsconn.Message) {
		select {
		case m <- msg:
		case <-ctx.Done():
		}
	})
}

// echo sends text and waits for it to come back; it returns the round trip.
func (m messages) echo(t *testing.T, c *wsconn.Client, text string) time.Duration {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	start := time.Now()
	if err := c.SendText(ctx, text); err != nil {
		t.Fatalf("SendText(%q): %v", text, err)
	}
	for {
		select {
		case msg := <-m:
			if string(msg.Data) == text {
				return time.Since(start)
			}
		case <-ctx.Done():
			t.Fatalf("no echo of %q within %v", text, patience)
		}
	}
}

// clientOptions are the options every test starts from.
func clientOptions(rec *recorder, msgs messages) []wsconn.Option {
	return []wsconn.Option{
		wsconn.WithHeartbeat(pingInterval, pongTimeout),
		// Generous: on a loaded machine (the race detector, other packages'
		// tests) a TLS handshake can take longer than the short timeout
		// TestHandshakeTimeout tests, and a timeout is a transient failure
		// that would add a retry to the expected transitions.
		wsconn.WithHandshakeTimeout(dialTimeout),
		wsconn.WithCloseTimeout(closeTimeout),
		wsconn.WithBackoff(wsconn.Backoff{Initial: backoffInitial, Max: backoffMax, Multiplier: 2}),
		// Alive is recorded before OnConnect has run and sends are
		// released: a send right after it is buffered, not refused.
		wsconn.WithSendPolicy(wsconn.SendPolicy{Buffer: 16}),
		wsconn.OnRecord(rec.Observe),
		msgs.option(),
	}
}

// dial dials url, failing the test on error, and closes the client when the
// test ends.
func dial(t *testing.T, url string, opts ...wsconn.Option) *wsconn.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	c, err := wsconn.Dial(ctx, url, opts...)
	if err != nil {
		t.Fatalf("Dial(%s): %v", url, err)
	}
	t.Cleanup(func() { closeClient(t, c) })
	return c
}

func closeClient(t *testing.T, c *wsconn.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), patience)
	defer cancel()
	if err := c.Close(ctx); err != nil {
		t.Errorf("Close: %v", err)
	}
}
