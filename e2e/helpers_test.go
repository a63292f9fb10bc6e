package e2e

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	toxiproxy "github.com/Shopify/toxiproxy/v2"
	"github.com/coder/websocket"
	"github.com/rs/zerolog"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/wsconn"
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

// step is one recorded transition.
type step struct {
	name  string
	at    time.Time
	cause error // the event's payload when it is an error
}

// recorder records the client's transitions. hook, if set, runs inside the
// lifecycle on every transition, after the state changed and before the new
// state's tasks start.
type recorder struct {
	hook func(fsm.Record[connfsm.State, connfsm.Event])

	mu      sync.Mutex
	steps   []step
	changed chan struct{}
}

func newRecorder() *recorder { return &recorder{changed: make(chan struct{}, 1)} }

func (r *recorder) option() wsconn.Option { return wsconn.OnTransition(r.observe) }

func (r *recorder) observe(_ context.Context, rec fsm.Record[connfsm.State, connfsm.Event]) {
	s := step{name: rec.From.String() + "-" + rec.Event.String() + "->" + rec.To.String(), at: time.Now()}
	s.cause, _ = rec.Payload.(error) // an error payload only: connections must not be retained
	if r.hook != nil {
		r.hook(rec)
	}
	r.mu.Lock()
	r.steps = append(r.steps, s)
	r.mu.Unlock()
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// names returns the recorded steps' names.
func (r *recorder) names() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, len(r.steps))
	for i, s := range r.steps {
		out[i] = s.name
	}
	return out
}

// nth returns the n-th (from 1) recorded step called name.
func (r *recorder) nth(name string, n int) (step, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.steps {
		if s.name == name {
			if n--; n == 0 {
				return s, true
			}
		}
	}
	return step{}, false
}

// waitFor waits until the n-th step called name is recorded, at most
// patience, and returns it.
func (r *recorder) waitFor(t *testing.T, name string, n int) step {
	t.Helper()
	deadline := time.NewTimer(patience)
	defer deadline.Stop()
	for {
		if s, ok := r.nth(name, n); ok {
			return s
		}
		select {
		case <-r.changed:
		case <-deadline.C:
			t.Fatalf("no %s #%d within %v; steps: %q", name, n, patience, r.names())
		}
	}
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

// echoServer is a WebSocket echo server on 127.0.0.1. The error that ended
// each connection's read loop is sent on readErrs.
type echoServer struct {
	*httptest.Server
	readErrs chan error
	// echoLimit, if positive, is the largest message echoed; longer ones
	// are read and dropped. Set it before start.
	echoLimit int

	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[*websocket.Conn]struct{}
}

// newEchoServer starts an echo server whose handler first runs before, if
// set: a true result means before answered the request itself.
func newEchoServer(t *testing.T, before func(w http.ResponseWriter, r *http.Request) bool) *echoServer {
	t.Helper()
	s := &echoServer{readErrs: make(chan error, 16), conns: make(map[*websocket.Conn]struct{})}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if before != nil && before(w, r) {
			return
		}
		s.serve(w, r)
	}))
	s.Config.ErrorLog = log.New(io.Discard, "", 0) // failed TLS handshakes are expected
	return s
}

func (s *echoServer) serve(w http.ResponseWriter, r *http.Request) {
	s.wg.Add(1) // before the hijack, so Close has waited for it to happen
	defer s.wg.Done()
	conn, err := websocket.Accept(w, r, nil)
	if err != nil {
		return
	}
	s.mu.Lock()
	s.conns[conn] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.conns, conn)
		s.mu.Unlock()
		_ = conn.CloseNow()
	}()
	ctx := context.Background() // the request context does not end with a hijacked connection
	for {
		typ, data, err := conn.Read(ctx)
		if err != nil {
			select {
			case s.readErrs <- err:
			default:
			}
			return
		}
		if s.echoLimit > 0 && len(data) > s.echoLimit {
			continue
		}
		if err := conn.Write(ctx, typ, data); err != nil {
			return
		}
	}
}

// start starts s, with TLS if tls is set, and stops it when the test ends:
// no new request, every WebSocket connection closed, every handler returned.
func (s *echoServer) start(t *testing.T, tls bool) {
	t.Helper()
	if tls {
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(func() {
		s.Close() // stops new requests and waits for those not hijacked
		s.mu.Lock()
		for c := range s.conns {
			_ = c.CloseNow()
		}
		s.mu.Unlock()
		waitGroup(t, &s.wg, "echo server handlers")
	})
}

// wsURL is the server's URL with the ws or wss scheme.
func (s *echoServer) wsURL() string {
	return "ws" + strings.TrimPrefix(s.URL, "http")
}

func waitGroup(t *testing.T, wg *sync.WaitGroup, what string) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(patience):
		t.Errorf("%s did not return within %v", what, patience)
	}
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
		rec.option(),
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

// holdListener accepts TCP connections on 127.0.0.1 and never answers them.
type holdListener struct {
	net.Listener
	accepted chan struct{}
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
	closed   bool
}

func newHoldListener(t *testing.T) *holdListener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	h := &holdListener{Listener: ln, accepted: make(chan struct{}, 16)}
	h.wg.Add(1)
	go func() {
		defer h.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			h.mu.Lock()
			if h.closed { // accepted just as the test ended
				h.mu.Unlock()
				_ = conn.Close()
				return
			}
			h.conns = append(h.conns, conn)
			h.mu.Unlock()
			h.wg.Add(1)
			go func() {
				defer h.wg.Done()
				_, _ = io.Copy(io.Discard, conn) // read the request, answer nothing
			}()
			select {
			case h.accepted <- struct{}{}:
			default:
			}
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		h.mu.Lock()
		h.closed = true
		for _, c := range h.conns {
			_ = c.Close()
		}
		h.mu.Unlock()
		waitGroup(t, &h.wg, "hold listener")
	})
	return h
}
