package session

import (
	"context"
	"time"

	"github.com/connfsm/connfsm/session/datapath"
)

// What the data path owes the peer and the handler when a connection
// ends or a handler is slow: the watchdog's view of silence, and the drain
// of what was read already.

// sinceData returns how long the peer has been silent, as the data
// watchdog counts it: since the last data message came (or the connection
// came up), or since a handler last gave the reader back, whichever is
// later. Time spent while a handler holds the reader is the consumer's,
// not the peer's: ok is false then, and nothing is counted.
func (s *session) sinceData() (idle time.Duration, ok bool) {
	if s.readerHeld() {
		return 0, false
	}
	since := max(time.Duration(s.lastData.Load()), time.Duration(s.freed.Load()))
	return clock() - since, true
}

// readerHeld reports whether a handler holds the reader: the pump holds a
// message (waiting for its turn, or in the handler), and nothing else
// reads the connection, or the read-ahead lent it holds a message too.
// Under an inbox the pump never waits for the handler.
func (s *session) readerHeld() bool {
	return s.inbox == nil && datapath.ReaderHeld(s.dp.State())
}

// endHandler ends the handler's context with cause: the call under way
// learns that its connection ended, and so do the calls that drain what
// was read already (drain).
func (s *session) endHandler(cause error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.handlerContextLocked()
	s.hcancel(cause)
}

// drainTimeout bounds drain: well within the lifecycle's join deadline,
// so that a reader task draining is not reported as a straggler.
const drainTimeout = time.Second

// drain waits, up to drainTimeout, until the pump holds no message it has
// read: the one in the handler, or waiting for its turn, the one a
// read-ahead holds, and those in the inbox are delivered (with the
// handler's context ended), not dropped. What the pump reads after it is
// dropped and counted.
func (s *session) drain() {
	if !s.holding(s.dp) {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
	defer cancel()
	_ = s.dp.Await(ctx, func(m *dpMachine) bool { return !s.holding(m) })
}

// holding reports whether the pump holds a message read and not yet
// handed to the handler, or in the handler. The data path steps at every
// handler call, so a wait on it sees an inbox emptied too.
func (s *session) holding(m *dpMachine) bool {
	return datapath.Holding(m.State()) || s.inbox != nil && s.inbox.len() > 0
}
