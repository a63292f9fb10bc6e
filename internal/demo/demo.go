// Package demo is `connfsm demo`. It plays the failures long-lived
// clients meet against a venue (wsconntest) on 127.0.0.1. It prints the
// lifecycle's timeline and checks the invariants. The scenes are:
//
//   - messages echoed;
//   - a reset without a close handshake;
//   - a peer that stops answering pings;
//   - a restart with downtime;
//   - subscriptions across a reset, and one the venue refuses;
//   - a close while reconnecting;
//   - a handler that stalls while a venue floods.
package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/internal/timeline"
	"github.com/connfsm/connfsm/session/datapath"
	"github.com/connfsm/connfsm/wsconn"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// Demo timing: short intervals so every scene takes about a second.
const (
	demoPing         = 300 * time.Millisecond
	demoPongTimeout  = 300 * time.Millisecond
	demoDownFor      = 1500 * time.Millisecond
	demoSceneTimeout = 5 * time.Second
	demoStall        = time.Second
	demoFlood        = 20000 // messages the flooding venue sends
)

// Run plays the demo, printing to tl (which must keep its records), until
// it is done or ctx ends (the scene being played stops; the invariants are
// still checked). ok is false if a check failed; err is set if the demo
// could not be played (the venue or the client did not start).
func Run(ctx context.Context, tl *timeline.Timeline) (ok bool, err error) {
	d := &demo{tl: tl, ctx: ctx}
	if err := d.run(); err != nil {
		return false, err
	}
	return d.ok, nil
}

type demo struct {
	tl     *timeline.Timeline
	ctx    context.Context // the program's: an interrupt ends the scene being played
	srv    *wsconntest.Server
	client *wsconn.Client
	probe  *deadWriteProbe
	echoes chan echo
	sent   int
	ok     bool
}

func (d *demo) run() error {
	ctx := context.Background()
	baseline := runtime.NumGoroutine()
	srv, err := wsconntest.NewTCPServer("127.0.0.1:0", wsconntest.WithoutRecording())
	if err != nil {
		return err
	}
	d.srv = srv
	defer srv.Close()
	url := srv.URL + "/"
	d.probe = newDeadWriteProbe()
	d.echoes = make(chan echo, 64)
	d.ok = true

	d.tl.Scene("connect to " + url)
	d.client, err = wsconn.Dial(ctx, url,
		wsconn.WithHeartbeat(demoPing, demoPongTimeout),
		wsconn.WithBackoff(wsconn.Backoff{Initial: 100 * time.Millisecond, Max: 400 * time.Millisecond, Multiplier: 2}),
		wsconn.WithStormGuard(wsconn.StormGuard{Attempts: 5, Window: 10 * time.Second, MinGap: 500 * time.Millisecond}),
		wsconn.WithHandshakeTimeout(time.Second),
		wsconn.WithCloseTimeout(time.Second),
		wsconn.WithHTTPClient(d.probe.client()),
		wsconn.OnRecord(d.tl.Observe),
		wsconn.OnMessage(func(_ context.Context, m wsconn.Message) { d.echoes <- echo{string(m.Data), m.Epoch} }))
	if err != nil {
		return err
	}
	defer d.client.Close(ctx)
	// The first connection's sync belongs to the first scene, not to the
	// next.
	if err := d.waitTransitions(0, "Connecting-Connected->Alive"); err != nil && d.ctx.Err() == nil {
		d.check("the first connection synced", false, err.Error())
	}

	d.scene("messages are echoed", func() error { return d.roundTrip("hello", "world") })

	d.scene("the server resets the TCP connection without a close handshake", func() error {
		mark := d.mark()
		srv.ResetAll()
		if err := d.waitTransitions(mark, "Alive-Lost->Reconnecting", "Reconnecting-RetryDue->Connecting", "Connecting-Connected->Alive"); err != nil {
			return err
		}
		return d.roundTrip("still here after the reset")
	})

	d.scene("the server stops answering pings (half-open peer)", func() error {
		mark := d.mark()
		start := time.Now()
		srv.Blackhole(true)
		err := d.waitTransitions(mark, "Alive-Lost->Reconnecting")
		took := time.Since(start)
		srv.Blackhole(false)
		srv.ResetAll() // the server side of the half-open connection
		if err != nil {
			return err
		}
		// A ping goes out at most one interval after the peer goes silent
		// and times out one pong timeout later; the slack absorbs a busy
		// machine's scheduling.
		bound := demoPing + demoPongTimeout + 300*time.Millisecond
		d.check("dead peer detected within ping interval + pong timeout", took <= bound,
			fmt.Sprintf("%v (bound %v)", took.Round(time.Millisecond), bound))
		if err := d.waitTransitions(mark, "Alive-Lost->Reconnecting", "Connecting-Connected->Alive"); err != nil {
			return err
		}
		return d.roundTrip("back from the black hole")
	})

	d.scene(fmt.Sprintf("the server goes down for %v and comes back (backoff, then the storm guard spaces dials)", demoDownFor), func() error {
		mark := d.mark()
		srv.Down()
		select {
		case <-time.After(demoDownFor):
		case <-d.ctx.Done():
			_ = srv.Up()
			return context.Cause(d.ctx)
		}
		if err := srv.Up(); err != nil {
			return err
		}
		if err := d.waitTransitions(mark, "Alive-Lost->Reconnecting", "Connecting-DialFailed->Reconnecting", "Connecting-Connected->Alive"); err != nil {
			return err
		}
		failed := 0
		for _, r := range d.tl.Records()[mark:] {
			if r.Kind == fsm.RecordTransition && r.Event == connfsm.DialFailed {
				failed++
			}
		}
		d.check("backoff attempts while down", failed >= 2, fmt.Sprintf("%d failed dials, spread by the backoff", failed))
		return d.roundTrip("the server is back")
	})

	d.scene("subscriptions: two across a reset, and a third the venue refuses", d.subscriptionScene)

	d.scene("the user closes while the client is reconnecting", func() error {
		mark := d.mark()
		srv.Down()
		if err := d.waitTransitions(mark, "Alive-Lost->Reconnecting"); err != nil {
			return err
		}
		start := time.Now()
		if err := d.client.Close(ctx); err != nil {
			return fmt.Errorf("close: %w", err)
		}
		took := time.Since(start)
		// Far below the 1s close timeout: there was no handshake to wait for.
		d.check("closed while disconnected: nothing left to wait for", took < 500*time.Millisecond,
			fmt.Sprintf("Close returned in %v, state %v", took.Round(time.Microsecond), d.client.State()))
		return d.waitTransitions(mark, "Reconnecting-Close->Closed")
	})
	// Closed by the last scene, unless an interrupt cut the scenes short:
	// then here, before the venue goes.
	_ = d.client.Close(ctx)
	srv.Close()
	d.scene(fmt.Sprintf("the handler stalls for %v while a venue floods (a slow consumer is no dead feed)", demoStall), d.flood)
	d.checkInvariants(baseline)
	return nil
}

// flood is the slow-consumer scene: a venue sends demoFlood messages as
// fast as the client reads to a client whose handler stalls on the first
// for demoStall, three times its idle timeout. Neither the watchdog nor
// the heartbeat may take the stall for a dead feed, and every message must
// be delivered, in order.
func (d *demo) flood() error {
	venue, err := wsconntest.NewTCPServer("127.0.0.1:0", wsconntest.WithoutRecording(), wsconntest.Default(wsconntest.Discard(),
		wsconntest.Func(func(ctx context.Context, c *wsconntest.Conn) {
			for i := 1; i <= demoFlood; i++ {
				if c.SendText(ctx, strconv.Itoa(i)) != nil {
					return
				}
			}
		})))
	if err != nil {
		return err
	}
	defer venue.Close()
	var got atomic.Int64
	var disorder atomic.Int64 // the first message out of order, or 0
	all := make(chan struct{})
	mark := d.mark()
	c, err := wsconn.Dial(d.ctx, venue.URL+"/",
		wsconn.WithHeartbeat(demoPing, demoPongTimeout),
		wsconn.WithIdleTimeout(demoPing),
		wsconn.OnRecord(d.tl.Observe),
		wsconn.OnMessage(func(ctx context.Context, m wsconn.Message) {
			n := got.Add(1)
			if string(m.Data) != strconv.FormatInt(n, 10) {
				disorder.CompareAndSwap(0, n)
			}
			switch n {
			case 1:
				select {
				case <-time.After(demoStall):
				case <-ctx.Done():
				}
			case demoFlood:
				close(all)
			}
		}))
	if err != nil {
		return err
	}
	defer c.Close(context.Background())
	select {
	case <-all:
	case <-time.After(demoSceneTimeout):
	case <-d.ctx.Done():
		return context.Cause(d.ctx)
	}
	st := c.Stats()
	lost := 0
	for _, r := range d.tl.Records()[mark:] {
		if r.Kind == fsm.RecordTransition && r.Event == connfsm.Lost {
			lost++
		}
	}
	d.check("no false loss while the handler stalled", lost == 0,
		fmt.Sprintf("%d losses; the first message waited %v in the handler, idle timeout %v", lost, demoStall, demoPing))
	// The data path's states, as the timeline printed them: the stall
	// shows as the handler Busy, a read-ahead lent for the heartbeat,
	// Backlogged behind it, the held message delivered with its lag, and
	// the steady flow again.
	var seen []string
	var lag time.Duration
	for _, r := range d.tl.Records()[mark:] {
		if dr, ok := r.Payload.(*wsconn.DataPathRecord); ok && r.Kind == wsconn.RecordDataPath && dr.Kind == fsm.RecordTransition {
			if len(seen) == 0 || seen[len(seen)-1] != dr.To.String() {
				seen = append(seen, dr.To.String())
			}
			if dr.Event == datapath.Deliver {
				lag = max(lag, dr.Lag)
			}
		}
	}
	path := strings.Join(seen, " → ")
	d.check("the data path went Backlogged behind the stalled handler and back to Flowing",
		strings.Contains(path, "Backlogged → Taking → Busy → Flowing") && lag > 0,
		fmt.Sprintf("%s; the held message's lag %v", path, lag.Round(time.Millisecond)))
	d.check("nothing dropped: every message read was delivered, in order", got.Load() == demoFlood && disorder.Load() == 0 && st.Dropped == 0,
		fmt.Sprintf("%d of %d delivered, %d dropped, first out of order %d; lag: max %v", got.Load(), demoFlood, st.Dropped, disorder.Load(), st.MaxLag.Round(time.Microsecond)))
	return c.Close(context.Background())
}

// echo is a message the client received, with its connection's epoch.
type echo struct {
	text  string
	epoch uint64
}

func (d *demo) scene(name string, fn func() error) {
	if d.ctx.Err() != nil {
		return // interrupted: the invariants are still checked
	}
	d.tl.Scene(name)
	if err := fn(); err != nil {
		d.check(name, false, err.Error())
	}
}

func (d *demo) check(name string, ok bool, detail string) {
	if !ok {
		d.ok = false
	}
	d.tl.Check(name, ok, detail)
}

func (d *demo) mark() int { return len(d.tl.Records()) }

// waitTransitions waits until the transitions recorded since mark contain
// want in order (other records may come between).
func (d *demo) waitTransitions(mark int, want ...string) error {
	deadline := time.Now().Add(demoSceneTimeout)
	for {
		i, synced := 0, false
		for _, r := range d.tl.Records()[mark:] {
			if name, ok := connfsm.TopTransition(r); ok && i < len(want) && r.Kind == fsm.RecordTransition && name == want[i] {
				i++
				synced = false
			} else if r.Kind == fsm.RecordTransition && r.Event == connfsm.Synced {
				synced = true
			}
		}
		// A scene that ends on a new connection ends once it has synced,
		// so that its Synced step is not printed under the next scene.
		if i == len(want) && (synced || !strings.HasSuffix(want[i-1], "->Alive")) {
			return nil
		}
		if time.Now().After(deadline) {
			what := "the session to sync"
			if i < len(want) {
				what = want[i]
			}
			return fmt.Errorf("waited %v for %s; state is %v", demoSceneTimeout, what, d.client.Path())
		}
		select {
		case <-time.After(5 * time.Millisecond):
		case <-d.ctx.Done():
			return context.Cause(d.ctx)
		}
	}
}

func (d *demo) roundTrip(texts ...string) error {
	for _, text := range texts {
		if err := d.client.SendText(context.Background(), text); err != nil {
			return fmt.Errorf("send %q: %w", text, err)
		}
		d.sent++
		d.tl.Message("sent", text, 0)
		select {
		case got := <-d.echoes:
			d.tl.Message("received", got.text, got.epoch)
			if got.text != text {
				return fmt.Errorf("echo %q, want %q", got.text, text)
			}
		case <-time.After(demoSceneTimeout):
			return fmt.Errorf("no echo of %q within %v", text, demoSceneTimeout)
		case <-d.ctx.Done():
			return context.Cause(d.ctx)
		}
	}
	return nil
}

func (d *demo) checkInvariants(baseline int) {
	d.tl.Scene("invariants")
	recs := d.tl.Records()
	var stragglers, rejected, joins int
	for _, r := range recs {
		switch r.Kind {
		case fsm.RecordStraggler:
			stragglers++
		case fsm.RecordRejected:
			rejected++
		case wsconn.RecordDataPath:
			if dr, ok := r.Payload.(*wsconn.DataPathRecord); ok && dr.Kind == fsm.RecordRejected {
				rejected++
			}
		case fsm.RecordTransition:
			joins += len(r.Join.Tasks)
		}
	}
	d.check("no task ran outside its state", stragglers == 0,
		fmt.Sprintf("%d tasks joined before their state was left, %d stragglers", joins, stragglers))
	d.check("every event was declared for its state", rejected == 0, fmt.Sprintf("%d rejected events", rejected))
	d.check("no ping was written to a dead connection", d.probe.deadWrites() == 0,
		fmt.Sprintf("%d writes after a connection's read side had failed, %d connections", d.probe.deadWrites(), d.probe.count()))
	st := d.client.Stats()
	d.check("every message sent was echoed", int(st.MessagesIn) == d.sent && st.Unsent == 0,
		fmt.Sprintf("%d sent, %d echoed, %d unsent", d.sent, st.MessagesIn, st.Unsent))
	select {
	case <-d.client.Done():
		d.check("the client ended Closed", d.client.State() == connfsm.Closed && errors.Is(d.client.Err(), wsconn.ErrClosed),
			fmt.Sprintf("state %v, Err %v", d.client.State(), d.client.Err()))
	default:
		d.check("the client ended Closed", false, "Done is not closed")
	}
	n := waitGoroutines(baseline, 3*time.Second)
	d.check("goroutines back to the baseline", n <= baseline, fmt.Sprintf("%d now, %d before", n, baseline))
	d.tl.Summary(fmt.Sprintf("%d connections, %d reconnects, %d messages echoed", st.Connects, st.Reconnects, st.MessagesIn),
		map[string]any{"connects": st.Connects, "reconnects": st.Reconnects, "messages_in": st.MessagesIn, "messages_out": st.MessagesOut, "ok": d.ok})
}

func waitGoroutines(baseline int, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	for {
		n := runtime.NumGoroutine()
		if n <= baseline || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// deadWriteProbe wraps the client's TCP connections to count writes made
// after the connection's read side failed: a ping on a dead connection.
type deadWriteProbe struct {
	mu    sync.Mutex
	conns []*probeConn
}

func newDeadWriteProbe() *deadWriteProbe { return &deadWriteProbe{} }

func (p *deadWriteProbe) client() *http.Client {
	var dialer net.Dialer
	tr := &http.Transport{DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dialer.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		pc := &probeConn{Conn: c}
		p.mu.Lock()
		p.conns = append(p.conns, pc)
		p.mu.Unlock()
		return pc, nil
	}}
	return &http.Client{Transport: tr}
}

func (p *deadWriteProbe) deadWrites() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := 0
	for _, c := range p.conns {
		n += int(c.afterDeath.Load())
	}
	return n
}

func (p *deadWriteProbe) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.conns)
}

type probeConn struct {
	net.Conn
	dead       atomic.Bool
	closed     atomic.Bool
	afterDeath atomic.Int64
}

func (c *probeConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil && !c.closed.Load() {
		c.dead.Store(true) // the peer is gone: reset or EOF
	}
	return n, err
}

func (c *probeConn) Write(p []byte) (int, error) {
	if c.dead.Load() {
		c.afterDeath.Add(1)
	}
	return c.Conn.Write(p)
}

func (c *probeConn) Close() error {
	c.closed.Store(true)
	return c.Conn.Close()
}
