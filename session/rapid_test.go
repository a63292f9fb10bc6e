package session

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coder/websocket"
	"pgregory.net/rapid"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// socketCounter wraps a DialContext and counts the client's sockets: one is
// open from its dial until its first Close.
type socketCounter struct {
	open  atomic.Int64
	dials atomic.Int64
	// overlap is set when a socket was dialed while another was open.
	overlap atomic.Bool
}

func (sc *socketCounter) wrap(dial func(context.Context, string, string) (net.Conn, error)) func(context.Context, string, string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		sc.dials.Add(1)
		if sc.open.Add(1) > 1 {
			sc.overlap.Store(true)
		}
		return &countedConn{Conn: c, sc: sc}, nil
	}
}

type countedConn struct {
	net.Conn
	sc   *socketCounter
	once sync.Once
}

func (c *countedConn) Close() error {
	c.once.Do(func() { c.sc.open.Add(-1) })
	return c.Conn.Close()
}

// lifecycleChecker observes the client and collects every breach of the
// lifecycle's rules as it happens, inside the machine.
type lifecycleChecker struct {
	def     *fsm.Definition[connfsm.State, connfsm.Event]
	sockets *socketCounter

	mu       sync.Mutex
	state    connfsm.State
	refused  bool // the last attempt was refused with an HTTP status
	trans    []string
	breaches []string
}

func newLifecycleChecker(sockets *socketCounter) *lifecycleChecker {
	return &lifecycleChecker{def: connfsm.Definition(), sockets: sockets, state: connfsm.Connecting}
}

func (lc *lifecycleChecker) observe(_ context.Context, r fsm.Record[connfsm.State, connfsm.Event]) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	bad := func(format string, args ...any) { lc.breaches = append(lc.breaches, fmt.Sprintf(format, args...)) }
	switch r.Kind {
	case fsm.RecordTransition:
		name := r.From.String() + "-" + r.Event.String() + "->" + r.To.String()
		if err, ok := r.Payload.(error); ok {
			lc.trans = append(lc.trans, name+" ("+err.Error()+")")
		} else {
			lc.trans = append(lc.trans, name)
		}
		cell, ok := lc.def.Cell(r.From, r.Event)
		if !ok || cell.Kind != fsm.KindTransition || cell.Leaf != r.To {
			bad("transition %s is not a transition cell of connfsm.Table() (cell %+v)", name, cell)
		}
		if r.From != lc.state {
			bad("transition %s starts from %v, but the previous transition ended in %v", name, r.From, lc.state)
		}
		lc.state = r.To
		if s := r.Join.Stragglers(); len(s) > 0 {
			bad("transition %s left tasks of %v running: %v", name, r.From, s)
		}
		if r.From == connfsm.Connecting {
			lc.refused = r.Event == connfsm.DialFailed && errors.As(payloadErr(r), new(*transport.HandshakeError))
		}
		if r.To == connfsm.Connecting {
			// A handshake refused with an HTTP status hands its socket
			// back to the HTTP client, which may close it a moment after
			// the attempt failed, or keep it for the next attempt with
			// keep-alives (the overlap check confirms no second socket is
			// dialed); otherwise nothing may be open.
			allowed := int64(0)
			if lc.refused {
				allowed = 1
			}
			if n := lc.sockets.open.Load(); n > allowed {
				bad("transition %s: %d socket(s) still open on entering Connecting, want <= %d", name, n, allowed)
			}
		}
	case fsm.RecordStraggler:
		bad("straggler: task %s of %v (epoch %d) outlived its state", r.Task, r.From, r.Epoch)
	case fsm.RecordRejected:
		bad("rejected event %v in %v: %v", r.Event, r.From, r.Err)
	}
}

func payloadErr(r fsm.Record[connfsm.State, connfsm.Event]) error {
	err, _ := r.Payload.(error)
	return err
}

func (lc *lifecycleChecker) report() (breaches, trans []string) {
	lc.mu.Lock()
	defer lc.mu.Unlock()
	return append([]string(nil), lc.breaches...), append([]string(nil), lc.trans...)
}

// sent is one Send the test made and what became of it.
type sent struct {
	id       string
	accepted bool // Send returned nil
	// exposedAt is the number of loss events (a black hole turned on, a
	// close frame from the server) before it was accepted, or -1 if a
	// black hole was on then. A later loss event may have eaten it after
	// the transport took it: the network drops what a black hole gets, and
	// a server that starts the close handshake discards the data frames
	// still in flight (RFC 6455, 5.5.1).
	exposedAt int
}

// rapidChecks returns the number of checks: CONNFSM_RAPID_CHECKS if set,
// else rapid's own setting (-rapid.checks, default 100).
func rapidChecks(t *testing.T) {
	v, ok := os.LookupEnv("CONNFSM_RAPID_CHECKS")
	if !ok {
		return
	}
	if n, err := strconv.Atoi(v); err != nil || n <= 0 {
		t.Fatalf("CONNFSM_RAPID_CHECKS=%q: want a positive integer", v)
	}
	f := flag.Lookup("rapid.checks")
	if f == nil {
		t.Fatal("rapid did not register -rapid.checks")
	}
	old := f.Value.String()
	if err := flag.Set("rapid.checks", v); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = flag.Set("rapid.checks", old) })
}

// TestLifecycleRandomized interleaves user calls (Send, Close, Close twice,
// Send after Close, Subscribe and Unsubscribe with acks, Reconnect) with
// faults (resets without a close frame, a black hole,
// a server that is down, refused handshakes with Retry-After, close frames,
// a slow peer) and virtual time, each case in its own synctest bubble.
// After every step: each transition is a transition cell of connfsm.Table()
// and follows the previous one, no task outlived its state, and no second
// socket was ever dialed while one was open (none is open on entering
// Connecting). After Close: the client is Closed with Done closed, every
// accepted message reached the server or was reported, and nothing of the
// client or the server is left running (the bubble fails otherwise).
func TestLifecycleRandomized(t *testing.T) {
	rapidChecks(t)
	exercised = coverage{}
	rapid.Check(t, func(rt *rapid.T) {
		rapid.SyncTest(rt, lifecycleProperty)
	})
	// A generator that stopped producing faults or sends would pass every
	// check above while testing nothing: over enough cases, each kind of
	// episode must have happened.
	exercisedMu.Lock()
	defer exercisedMu.Unlock()
	t.Logf("exercised: %+v", exercised)
	if c := exercised; c.Cases >= 50 && (c.Reconnects == 0 || c.GaveUp == 0 || c.Accepted == 0 || c.Received == 0 || c.Replays == 0) {
		t.Errorf("%d cases exercised too little: %+v", c.Cases, c)
	}
}

// coverage sums what the randomized cases went through.
type coverage struct {
	Cases, Transitions, Reconnects, GaveUp, Sends, Accepted, Received, Unsent, Replays int
}

var (
	exercisedMu sync.Mutex
	exercised   coverage
)

func lifecycleProperty(t *rapid.T) {
	// The venue echoes, after a pause per message the test changes between
	// steps (a slow consumer); the test cues refusals, close frames,
	// resets, black holes and downtime.
	var slow atomic.Int64
	srv := wsconntest.NewServer(wsconntest.Default(
		// Subscriptions are acknowledged and not echoed.
		wsconntest.OnMessage(func(c *wsconntest.Conn, m wsconntest.Message) bool {
			text := string(m.Data)
			switch {
			case strings.HasPrefix(text, "sub:"):
				_ = c.SendText(c.Context(), "ack:"+strings.TrimPrefix(text, "sub:"))
				return true
			case strings.HasPrefix(text, "unsub:"):
				return true
			}
			return false
		}),
		wsconntest.OnMessage(func(c *wsconntest.Conn, _ wsconntest.Message) bool {
			if d := time.Duration(slow.Load()); d > 0 {
				select {
				case <-time.After(d):
				case <-c.Context().Done():
				}
			}
			return false
		}),
		wsconntest.Echo()))
	t.Cleanup(srv.Close)
	var sockets socketCounter
	tr := srv.Client().Transport.(*http.Transport).Clone()
	tr.DialContext = sockets.wrap(tr.DialContext)
	t.Cleanup(tr.CloseIdleConnections)

	lc := newLifecycleChecker(&sockets)
	ping := rapid.SampledFrom([]time.Duration{500 * time.Millisecond, time.Second, 5 * time.Second}).Draw(t, "ping interval")
	buffer := rapid.SampledFrom([]int{0, 3}).Draw(t, "send buffer")
	c, err := dialWS(context.Background(), "ws://feed.test/",
		WithHTTPClient(&http.Client{Transport: tr}),
		OnRecord(lc.observe),
		NoWait(),
		WithHeartbeat(ping, ping),
		WithHandshakeTimeout(2*time.Second),
		WithCloseTimeout(time.Second),
		WithStablePeriod(3*time.Second),
		WithBackoff(retry.Backoff{Initial: 50 * time.Millisecond, Max: 2 * time.Second, Multiplier: 2}),
		WithSendPolicy(SendPolicy{Buffer: buffer}),
		OnMessage(func(context.Context, transport.Message) {}),
	)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	// On failure, stop the client before the server so the bubble ends.
	t.Cleanup(func() { _ = c.Close(canceled(context.Background())) })

	var (
		sends      []sent
		holeOn     bool
		lossEvents int // black holes turned on and close frames sent
		closed     bool
		closeErr   error
		nextID     int
		sendOne    func(ctx context.Context) error
		anyUnknown []string
		subscribed []string // the keys, in subscription order
		holders    = map[string]int{}
	)
	subscription := func(key string) Subscription {
		return Subscription{Key: key, Message: []byte("sub:" + key), Unsubscribe: []byte("unsub:" + key),
			Ack: func(m transport.Message) bool { return string(m.Data) == "ack:"+key }}
	}
	known := func(err error) bool {
		return err == nil || errors.Is(err, ErrNotConnected) || errors.Is(err, ErrClosed) ||
			errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrAckTimeout)
	}
	sendOne = func(ctx context.Context) error {
		nextID++
		id := fmt.Sprintf("payload-%d", nextID)
		exposed := lossEvents
		if holeOn {
			exposed = -1
		}
		err := c.SendText(ctx, id)
		sends = append(sends, sent{id: id, accepted: err == nil, exposedAt: exposed})
		switch {
		case err == nil, errors.Is(err, ErrNotConnected), errors.Is(err, ErrClosed), errors.Is(err, ErrBufferFull),
			errors.Is(err, context.DeadlineExceeded): // waited for a release that did not come in time
		default:
			anyUnknown = append(anyUnknown, err.Error())
		}
		return err
	}
	doClose := func(t *rapid.T) {
		err := c.Close(context.Background())
		if err != nil && !errors.Is(err, ErrUnsent) {
			t.Fatalf("Close = %v, want nil or ErrUnsent", err)
		}
		if closed && errors.Is(err, ErrUnsent) != errors.Is(closeErr, ErrUnsent) {
			t.Fatalf("second Close = %v, first returned %v", err, closeErr)
		}
		if !closed {
			closed, closeErr = true, err
		}
		select {
		case <-c.Done():
		default:
			t.Fatal("Close returned before Done was closed")
		}
		if st := c.State(); st != connfsm.Closed {
			t.Fatalf("state after Close = %v, want Closed", st)
		}
	}

	t.Repeat(map[string]func(*rapid.T){
		"send": func(t *rapid.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := sendOne(ctx)
			if closed && !errors.Is(err, ErrClosed) {
				t.Fatalf("Send after Close = %v, want ErrClosed", err)
			}
		},
		"send racing close": func(t *rapid.T) {
			if rapid.IntRange(0, 7).Draw(t, "close now") != 7 { // rapid favours small draws
				return
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				_ = sendOne(context.Background())
			}()
			doClose(t)
			<-done
		},
		"close": func(t *rapid.T) {
			if rapid.IntRange(0, 7).Draw(t, "close now") != 7 { // rapid favours small draws
				return
			}
			doClose(t)
		},
		"close twice": func(t *rapid.T) {
			if !closed {
				return
			}
			doClose(t)
		},
		"subscribe": func(t *rapid.T) {
			key := rapid.SampledFrom([]string{"a", "b", "c", "d"}).Draw(t, "key")
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := c.Subscribe(ctx, subscription(key))
			switch {
			case closed && !errors.Is(err, ErrClosed):
				t.Fatalf("Subscribe after Close = %v, want ErrClosed", err)
			case !known(err):
				anyUnknown = append(anyUnknown, err.Error())
			}
			// Registered unless the client had closed (it may have given up
			// on its own); a failed send or ack leaves it registered. Each
			// Subscribe is one more holder.
			if !errors.Is(err, ErrClosed) {
				if !slices.Contains(subscribed, key) {
					subscribed = append(subscribed, key)
				}
				holders[key]++
			}
		},
		"unsubscribe": func(t *rapid.T) {
			key := rapid.SampledFrom([]string{"a", "b", "c", "d"}).Draw(t, "key")
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := c.Unsubscribe(ctx, key); !known(err) {
				anyUnknown = append(anyUnknown, err.Error())
			}
			// The last holder's Unsubscribe removes it.
			if holders[key] > 0 {
				holders[key]--
			}
			if holders[key] == 0 {
				subscribed = slices.DeleteFunc(subscribed, func(k string) bool { return k == key })
			}
		},
		"reconnect": func(t *rapid.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			err := c.Reconnect(ctx)
			switch {
			case closed && !errors.Is(err, ErrClosed):
				t.Fatalf("Reconnect after Close = %v, want ErrClosed", err)
			case !known(err):
				anyUnknown = append(anyUnknown, err.Error())
			}
		},
		"reset": func(*rapid.T) { srv.ResetAll() },
		"black hole": func(t *rapid.T) {
			holeOn = rapid.Bool().Draw(t, "on")
			if holeOn {
				lossEvents++
			}
			srv.Blackhole(holeOn)
		},
		"down": func(t *rapid.T) {
			if rapid.Bool().Draw(t, "down") {
				srv.Down() // and its connections reset
			} else {
				_ = srv.Up() // only fails once closed
			}
		},
		"refuse next handshake": func(t *rapid.T) {
			status := rapid.SampledFrom([]int{503, 429, 401}).Draw(t, "status")
			h := http.Header{}
			if status == http.StatusTooManyRequests || status == http.StatusServiceUnavailable {
				h.Set("Retry-After", "1")
			}
			srv.Next(wsconntest.Refuse(status, h))
		},
		"slow consumer": func(t *rapid.T) {
			d := rapid.SampledFrom([]time.Duration{100 * time.Millisecond, 0, 3 * time.Second}).Draw(t, "pause")
			slow.Store(int64(d))
		},
		"close frame": func(t *rapid.T) {
			code := rapid.SampledFrom([]websocket.StatusCode{
				websocket.StatusNormalClosure, websocket.StatusGoingAway,
				websocket.StatusPolicyViolation, websocket.StatusInternalError,
			}).Draw(t, "code")
			lossEvents++
			if conns := srv.Conns(); len(conns) > 0 {
				_ = conns[len(conns)-1].Close(code, "scripted close")
			}
		},
		"advance time": func(t *rapid.T) {
			time.Sleep(time.Duration(rapid.Int64Range(int64(time.Second), int64(10*time.Second)).Draw(t, "by")))
		},
		"advance time a little": func(t *rapid.T) {
			time.Sleep(time.Duration(rapid.Int64Range(int64(10*time.Millisecond), int64(time.Second)).Draw(t, "by")))
		},
		"send a few": func(t *rapid.T) {
			for range rapid.IntRange(1, 5).Draw(t, "count") {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				err := sendOne(ctx)
				cancel()
				if closed && !errors.Is(err, ErrClosed) {
					t.Fatalf("Send after Close = %v, want ErrClosed", err)
				}
				time.Sleep(time.Duration(rapid.Int64Range(0, int64(200*time.Millisecond)).Draw(t, "gap")))
			}
		},
		"": func(t *rapid.T) {
			synctest.Wait()
			if breaches, trans := lc.report(); len(breaches) > 0 {
				t.Fatalf("lifecycle breaches: %v\ntransitions: %v", breaches, trans)
			}
			if sockets.overlap.Load() {
				_, trans := lc.report()
				t.Fatalf("a socket was dialed while another was open\ntransitions: %v", trans)
			}
			if len(anyUnknown) > 0 {
				t.Fatalf("Send, Subscribe, Unsubscribe or Reconnect returned errors matching neither a documented sentinel nor its ctx: %v", anyUnknown)
			}
			if !closed && !slices.Equal(subscribed, c.Subscriptions()) {
				t.Fatalf("Subscriptions() = %q, want %q", c.Subscriptions(), subscribed)
			}
		},
	})

	// Leave the black hole: the final close must not depend on it, and the
	// accounting below exempts only messages it may have eaten.
	srv.Blackhole(false)
	doClose(t)
	synctest.Wait()
	if err := c.Err(); !errors.Is(err, ErrClosed) && !errors.As(err, new(*GaveUpError)) {
		t.Fatalf("Err after Close = %v, want ErrClosed or *GaveUpError", err)
	}
	if err := c.SendText(context.Background(), "after close"); !errors.Is(err, ErrClosed) {
		t.Fatalf("Send after Close = %v, want ErrClosed", err)
	}
	tr.CloseIdleConnections()
	if open := sockets.open.Load(); open != 0 {
		t.Fatalf("%d socket(s) still open after Close, want 0", open)
	}

	received := map[string]bool{}
	replays := 0
	for _, conn := range srv.Connections() {
		subs := map[string]bool{}
		for _, m := range conn.ReceivedText() {
			received[m] = true
			switch {
			case strings.HasPrefix(m, "sub:"):
				if subs[m] { // a subscription is sent once per connection, unless unsubscribed between
					t.Fatalf("connection %d received %s twice: %q", conn.N, m, conn.ReceivedText())
				}
				subs[m] = true
			case strings.HasPrefix(m, "unsub:"):
				delete(subs, "sub:"+strings.TrimPrefix(m, "unsub:"))
			}
		}
		if conn.N > 1 && len(conn.ReceivedText()) > 0 && strings.HasPrefix(conn.ReceivedText()[0], "sub:") {
			replays++ // a later connection resubscribed before anything else
		}
	}
	{
		_, trans := lc.report()
		acc := 0
		for _, s := range sends {
			if s.accepted {
				acc++
			}
		}
		exercisedMu.Lock()
		exercised.Cases++
		exercised.Transitions += len(trans)
		if c.Stats().Reconnects > 0 {
			exercised.Reconnects++
		}
		if errors.As(c.Err(), new(*GaveUpError)) {
			exercised.GaveUp++
		}
		exercised.Sends += len(sends)
		exercised.Accepted += acc
		exercised.Received += len(received)
		exercised.Unsent += int(c.Stats().Unsent)
		exercised.Replays += replays
		exercisedMu.Unlock()
	}
	// Every accepted message reached the server or was reported.
	var missing []string
	for _, s := range sends {
		if !s.accepted || received[s.id] {
			continue
		}
		if s.exposedAt < 0 || s.exposedAt < lossEvents {
			continue // the network or the closing peer may have dropped it
		}
		missing = append(missing, s.id)
	}
	if unsent := c.Stats().Unsent; uint64(len(missing)) > unsent {
		_, trans := lc.report()
		t.Fatalf("accepted messages neither delivered nor reported: %v (Stats.Unsent %d, Close: %v)\ntransitions: %v",
			missing, unsent, closeErr, trans)
	}
}
