package session

import (
	"sync/atomic"
	"time"
)

type counters struct {
	connects, reconnects     atomic.Uint64
	messagesIn, messagesOut  atomic.Uint64
	bytesIn, bytesOut        atomic.Uint64
	pings, deadPings, unsent atomic.Uint64
	answered                 atomic.Uint64
	pingsSkipped             atomic.Uint64
	pongWaitsExtended        atomic.Uint64
	lateReads                atomic.Uint64
	dropped, tooBig          atomic.Uint64
	slowDropped, conflated   atomic.Uint64
	slowDisconnects          atomic.Uint64
	undecoded                atomic.Uint64
	lastLag, maxLag          atomic.Int64
	lastRTT, nextDelay       atomic.Int64
}

// received counts a data message of n bytes handed to OnMessage, or
// discarded without one.
func (c *counters) received(n int) {
	c.messagesIn.Add(1)
	c.bytesIn.Add(uint64(n))
}

// Stats is a snapshot of a client's counters.
type Stats struct {
	Connects    uint64        // connections that reached Alive
	Reconnects  uint64        // Connects after the first
	MessagesIn  uint64        // data messages handed to OnMessage (or discarded without one)
	MessagesOut uint64        // data messages written to a connection
	BytesIn     uint64        // payload bytes of MessagesIn
	BytesOut    uint64        // payload bytes of MessagesOut
	Pings       uint64        // pings written
	LastRTT     time.Duration // round trip of the last answered ping
	// DeadPings counts heartbeat ticks that found their connection already
	// failed; the heartbeat pings nothing then and reports the failure.
	// The lifecycle cancels the heartbeat when the reader sees the
	// failure, so this stays 0 in practice: it is there to be checked.
	DeadPings uint64
	// Unsent counts accepted messages that were never written: buffered
	// when the client closed, or whose flush failed.
	Unsent uint64
	// NextDelay is the wait before a dial chosen last (see Wait).
	NextDelay time.Duration
	// AnsweredPings counts the peer's application pings answered
	// (WithPingResponder).
	AnsweredPings uint64
	// PingsSkipped counts the heartbeat's looks at a connection that had
	// read a message within the ping interval, and so needed no protocol
	// ping (see WithAlwaysPing).
	PingsSkipped uint64
	// PongWaitsExtended counts the lengthenings of waits for a heartbeat's
	// reply because the heartbeat itself woke up late: the process was
	// overloaded, which is not the peer's fault.
	PongWaitsExtended uint64
	// LateReads counts the waits for a heartbeat's reply that expired while
	// bytes from the peer lay unread in the socket: the process, not the
	// peer, was late, and the connection was kept (Linux only: elsewhere
	// the socket is not asked).
	LateReads uint64
	// Buffered is the number of accepted messages the send policy keeps
	// now, waiting for the next Alive (WithSendPolicy).
	Buffered int
	// Dropped counts data messages the client had read from the
	// connection but did not hand to OnMessage because the connection
	// ended first: those still held when the drain after the end ran out
	// (see OnMessage), and those read during the close handshake.
	Dropped uint64
	// TooBig counts connections lost to a message over the read limit
	// (ErrMessageTooBig).
	TooBig uint64
	// SlowDropped counts messages the slow-consumer policy dropped
	// (DropOldest, DropNewest, and Conflate beyond its keys).
	SlowDropped uint64
	// Conflated counts messages replaced by a newer one of their key
	// (Conflate).
	Conflated uint64
	// SlowDisconnects counts connections the Disconnect policy ended.
	SlowDisconnects uint64
	// LastLag and MaxLag are the lag of the last handler call and the
	// largest so far: its start minus the message's Received.
	LastLag, MaxLag time.Duration
	// Undecoded counts binary messages that did not decode with the
	// decompression set (WithDecompression), handed over as read.
	Undecoded uint64
}

// lagged records the lag of a handler call starting now for a message
// received at t.
func (c *counters) lagged(t time.Time) {
	if t.IsZero() {
		return
	}
	lag := int64(time.Since(t))
	c.lastLag.Store(lag)
	for {
		m := c.maxLag.Load()
		if lag <= m || c.maxLag.CompareAndSwap(m, lag) {
			return
		}
	}
}

// Stats returns a snapshot of the client's counters.
func (c *Client) Stats() Stats {
	st := Stats{
		Connects:    c.stats.connects.Load(),
		Reconnects:  c.stats.reconnects.Load(),
		MessagesIn:  c.stats.messagesIn.Load(),
		MessagesOut: c.stats.messagesOut.Load(),
		BytesIn:     c.stats.bytesIn.Load(),
		BytesOut:    c.stats.bytesOut.Load(),
		Pings:       c.stats.pings.Load(),
		LastRTT:     time.Duration(c.stats.lastRTT.Load()),
		DeadPings:   c.stats.deadPings.Load(),
		Unsent:      c.stats.unsent.Load(),
		NextDelay:   time.Duration(c.stats.nextDelay.Load()),

		AnsweredPings:     c.stats.answered.Load(),
		PingsSkipped:      c.stats.pingsSkipped.Load(),
		PongWaitsExtended: c.stats.pongWaitsExtended.Load(),
		LateReads:         c.stats.lateReads.Load(),
		Dropped:           c.stats.dropped.Load(),
		TooBig:            c.stats.tooBig.Load(),
		SlowDropped:       c.stats.slowDropped.Load(),
		Conflated:         c.stats.conflated.Load(),
		SlowDisconnects:   c.stats.slowDisconnects.Load(),
		LastLag:           time.Duration(c.stats.lastLag.Load()),
		MaxLag:            time.Duration(c.stats.maxLag.Load()),
		Undecoded:         c.stats.undecoded.Load(),
	}
	c.bufMu.Lock()
	st.Buffered = c.buf.len()
	c.bufMu.Unlock()
	return st
}
