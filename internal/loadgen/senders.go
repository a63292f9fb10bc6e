package loadgen

import (
	"context"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/wsconn"
)

const (
	// senders is the number of goroutines sending the clients' periodic
	// messages: a fixed few, so the goroutines counted per connection are
	// the client's own.
	senders = 8
	// sendSlots is the number of slices each sender spreads a round over:
	// N messages sent in one burst at the start of every period queue
	// every ping behind them, which no real workload does.
	sendSlots = 100
	// sendTimeout bounds one Send. It is not Config.SendEvery: a write
	// whose context ends mid-way closes the connection, and a load
	// generator must not cut its own connections because its machine was
	// busy for a second; liveness is the heartbeat's job.
	sendTimeout = 10 * time.Second
)

// stopper stops a background loop and waits for it.
type stopper struct {
	quit chan struct{}
	done sync.WaitGroup
	once sync.Once
}

func newStopper() *stopper { return &stopper{quit: make(chan struct{})} }

func (s *stopper) stop() {
	s.once.Do(func() { close(s.quit) })
	s.done.Wait()
}

// wait waits until t and reports false if stopped first.
func (s *stopper) wait(t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		select {
		case <-s.quit:
			return false
		default:
			return true
		}
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-s.quit:
		return false
	case <-tm.C:
		return true
	}
}

// sendTarget is a client the senders send to: a wsconn.Client or a raw
// one.
type sendTarget interface {
	// alive reports whether the client has a connection to send on.
	alive() bool
	// send sends msg as a text message.
	send(ctx context.Context, msg []byte) error
}

// wsTarget is a wsconn.Client as a sendTarget.
type wsTarget struct{ c *wsconn.Client }

func (t wsTarget) alive() bool { return t.c.State() == connfsm.Alive }

func (t wsTarget) send(ctx context.Context, msg []byte) error { return t.c.Send(ctx, wsconn.Text, msg) }

// wsTargets returns clients as sendTargets.
func wsTargets(clients []*wsconn.Client) []sendTarget {
	out := make([]sendTarget, len(clients))
	for i, c := range clients {
		out[i] = wsTarget{c}
	}
	return out
}

// startSenders makes every client send a small message each period while
// Alive, from a few goroutines. Each sender spreads its clients' sends
// evenly over the period, in sendSlots slices: the same rate as one burst
// per period, without the burst.
func startSenders(clients []sendTarget, every time.Duration, cnt *counters) *stopper {
	s := newStopper()
	msg := []byte("load")
	for w := range min(senders, len(clients)) {
		s.done.Go(func() {
			var mine []sendTarget
			for i := w; i < len(clients); i += senders {
				mine = append(mine, clients[i])
			}
			// A round at once, then one per period: a run of d has
			// d/every rounds, not one fewer.
			for round := time.Now(); ; round = round.Add(every) {
				if late := time.Since(round); late > every {
					round = time.Now() // skip rounds rather than burst to catch up
				}
				for slot := range sendSlots {
					if !s.wait(round.Add(time.Duration(slot) * every / sendSlots)) {
						return
					}
					for _, cl := range mine[slot*len(mine)/sendSlots : (slot+1)*len(mine)/sendSlots] {
						if !cl.alive() {
							continue
						}
						ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
						if err := cl.send(ctx, msg); err != nil {
							cnt.sendFailures.Add(1)
						}
						cancel()
					}
				}
				if !s.wait(round.Add(every)) {
					return
				}
			}
		})
	}
	return s
}

// startProgress prints a progress line every second: rewritten in place
// on a terminal, one line each time otherwise.
func startProgress(w io.Writer, n int, cnt *counters) *stopper {
	s := newStopper()
	tty := isTerminal(w)
	start := time.Now()
	s.done.Go(func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		lastEchoes := cnt.echoes.Load()
		for {
			select {
			case <-s.quit:
				if tty {
					fmt.Fprintln(w)
				}
				return
			case <-t.C:
			}
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			e := cnt.echoes.Load()
			line := fmt.Sprintf("load %5.1fs: alive %d/%d, reconnects %d, echoes/s %d, goroutines %d, heap %.1f MiB",
				time.Since(start).Seconds(), cnt.alive.Load(), n, cnt.reconnects.Load(), e-lastEchoes,
				runtime.NumGoroutine(), float64(ms.HeapInuse)/(1<<20))
			lastEchoes = e
			if tty {
				fmt.Fprintf(w, "\r%s\x1b[K", line)
			} else {
				fmt.Fprintln(w, line)
			}
		}
	})
	return s
}

// isTerminal reports whether w (under a lockedWriter) is a terminal: the
// progress line is then rewritten in place.
func isTerminal(w io.Writer) bool {
	if lw, ok := w.(*lockedWriter); ok {
		w = lw.w
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
