package wsconn

import "time"

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
func (s *session) readerHeld() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.busy && (s.ahead == nil || s.ahead.parked)
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
// read: the one in the handler, or waiting for its turn, and the one a
// read-ahead holds are delivered (with the handler's context ended), not
// dropped. What the pump reads after it is dropped and counted.
func (s *session) drain() {
	s.mu.Lock()
	if s.stopped || !s.holdingLocked() {
		s.mu.Unlock()
		return
	}
	if s.drained == nil {
		s.drained = make(chan struct{})
	}
	drained := s.drained
	s.mu.Unlock()
	t := time.NewTimer(drainTimeout)
	defer t.Stop()
	select {
	case <-drained:
	case <-t.C:
	}
}

// holdingLocked reports whether the pump holds a message read and not yet
// handed to the handler, or in the handler; s.mu is held.
func (s *session) holdingLocked() bool {
	return s.busy || s.handling || s.ahead != nil && s.ahead.parked || s.inbox != nil && s.inbox.len() > 0
}

// releasedLocked wakes drain once the pump holds nothing; s.mu is held.
func (s *session) releasedLocked() {
	if s.drained != nil && !s.holdingLocked() {
		close(s.drained)
		s.drained = nil
	}
}
