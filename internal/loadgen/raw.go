package loadgen

import (
	"context"
	"errors"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/connfsm/connfsm/wsconn"
)

// rawSettings are what every raw client of a run shares.
type rawSettings struct {
	cnt        *counters
	http       *http.Client // nil: coder/websocket's default
	ping, pong time.Duration
}

// rawFleet is a run's bare coder/websocket clients: the baseline wsconn's
// figures are compared with. Each is what a user of the library alone
// would write: Dial, then one goroutine reading every message, a ping
// every interval from a timer (a goroutine only while the ping waits for
// its pong), and sends from the run's senders. A raw client does not
// reconnect: once lost it stays lost.
type rawFleet struct {
	set     *rawSettings
	clients []*rawClient
}

func newRawFleet(cfg Config, cnt *counters) *rawFleet {
	return &rawFleet{
		set:     &rawSettings{cnt: cnt, http: cfg.HTTPClient, ping: cfg.Ping, pong: cfg.Pong},
		clients: make([]*rawClient, 0, cfg.N),
	}
}

func (f *rawFleet) start(url string) error {
	rc := &rawClient{set: f.set, done: make(chan struct{})}
	f.clients = append(f.clients, rc)
	go rc.run(url)
	return nil
}

func (f *rawFleet) targets() []sendTarget {
	out := make([]sendTarget, len(f.clients))
	for i, rc := range f.clients {
		out[i] = rc
	}
	return out
}

func (f *rawFleet) pings() uint64 { return f.set.cnt.pings.Load() }

func (f *rawFleet) tally(r *Report) {
	for _, rc := range f.clients {
		if rc.up.Load() {
			r.Alive++
		}
	}
	r.Pings = f.set.cnt.pings.Load()
}

// close closes every client, a few at a time, and returns how many
// goroutines ended within closeBound (the rest are then cut off and
// waited for).
func (f *rawFleet) close() int {
	ctx, cancel := context.WithTimeout(context.Background(), closeBound)
	defer cancel()
	var (
		wg     sync.WaitGroup
		next   atomic.Int64
		closed atomic.Int64
	)
	for range min(64, len(f.clients)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= len(f.clients) {
					return
				}
				if f.clients[i].close(ctx) {
					closed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return int(closed.Load())
}

// rawClient is one bare coder/websocket connection.
type rawClient struct {
	set  *rawSettings
	done chan struct{} // closed when its goroutine returns
	up   atomic.Bool   // connected and not lost

	mu      sync.Mutex // guards what follows: the handover between run and close
	conn    *websocket.Conn
	ping    *time.Timer
	closing bool
}

// run dials, then reads until the connection fails or is closed.
func (rc *rawClient) run(url string) {
	defer close(rc.done)
	cnt := rc.set.cnt
	cnt.dialed(time.Now())
	ctx, cancel := context.WithTimeout(context.Background(), wsconn.DefaultHandshakeTimeout)
	c, _, err := websocket.Dial(ctx, url, &websocket.DialOptions{HTTPClient: rc.set.http})
	cancel()
	if err != nil {
		cnt.dialFailed(err, true)
		cnt.ended.Add(1)
		return
	}
	rc.mu.Lock()
	if rc.closing {
		rc.mu.Unlock()
		_ = c.CloseNow()
		return
	}
	rc.conn = c
	rc.up.Store(true)
	cnt.alive.Add(1)
	rc.ping = time.AfterFunc(rc.set.ping, rc.heartbeat)
	rc.mu.Unlock()

	for {
		if _, _, err := c.Read(context.Background()); err != nil {
			rc.lose(causeRead)
			return
		}
		cnt.echoes.Add(1)
	}
}

// heartbeat pings and waits for the pong; the next ping follows the
// interval after it.
func (rc *rawClient) heartbeat() {
	rc.set.cnt.pings.Add(1)
	ctx, cancel := context.WithTimeout(context.Background(), rc.set.pong)
	err := rc.conn.Ping(ctx)
	cancel()
	if err != nil {
		cause := causePing
		if errors.Is(err, context.DeadlineExceeded) {
			cause = causePongTimeout
		}
		rc.lose(cause)
		return
	}
	rc.mu.Lock()
	if !rc.closing {
		rc.ping.Reset(rc.set.ping)
	}
	rc.mu.Unlock()
}

// lose ends the connection, counted as lost with cause unless it is
// being closed. The first caller decides; the others find it down.
func (rc *rawClient) lose(cause string) {
	rc.mu.Lock()
	closing := rc.closing
	rc.mu.Unlock()
	if !rc.up.CompareAndSwap(true, false) {
		return
	}
	cnt := rc.set.cnt
	cnt.alive.Add(-1)
	if closing {
		return
	}
	cnt.lostAs(cause)
	cnt.ended.Add(1)
	_ = rc.conn.CloseNow()
}

// alive reports whether the client is connected, for the senders.
func (rc *rawClient) alive() bool { return rc.up.Load() }

// send writes msg; up says conn is set.
func (rc *rawClient) send(ctx context.Context, msg []byte) error {
	return rc.conn.Write(ctx, websocket.MessageText, msg)
}

// close closes the connection with the close handshake (which
// coder/websocket bounds to 5s a step) and waits for the client's
// goroutine, which a dial in flight may hold up to the handshake timeout.
// It reports whether the goroutine ended before ctx did.
func (rc *rawClient) close(ctx context.Context) bool {
	rc.mu.Lock()
	rc.closing = true
	c := rc.conn
	if rc.ping != nil {
		rc.ping.Stop()
	}
	rc.mu.Unlock()
	if c != nil {
		_ = c.Close(websocket.StatusNormalClosure, "")
	}
	select {
	case <-rc.done:
		return true
	case <-ctx.Done():
		<-rc.done
		return false
	}
}
