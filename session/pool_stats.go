package session

import (
	"context"
	"slices"

	"github.com/connfsm/connfsm"
)

// chainGates returns a gate that passes first, then second.
func chainGates(first, second DialGate) DialGate {
	if first == nil {
		return second
	}
	return func(ctx context.Context) (func(bool), error) {
		done1, err := first(ctx)
		if err != nil {
			return nil, err
		}
		done2, err := second(ctx)
		if err != nil {
			if done1 != nil {
				done1(false)
			}
			return nil, err
		}
		return func(reached bool) {
			if done2 != nil {
				done2(reached)
			}
			if done1 != nil {
				done1(reached)
			}
		}, nil
	}
}

// PoolStats is a snapshot of a Pool.
type PoolStats struct {
	Conns         int // connections open (not given up)
	Ready         int // connections Ready now
	Subscriptions int // keys held, on connections or Pending in the pool
	// Pending counts the subscriptions no connection could take when
	// theirs gave up (within MaxConns and MaxPerConn): they wait in the
	// pool for room.
	Pending int
	// Moved counts the subscriptions moved from a connection that gave up
	// to another.
	Moved uint64
	// Stats sums the connections' counters; LastRTT and NextDelay are the
	// largest among them.
	Stats
}

// Stats returns a snapshot of the pool's counters.
func (p *Pool) Stats() PoolStats {
	p.mu.Lock()
	st := PoolStats{Conns: len(p.conns), Subscriptions: len(p.byKey) + len(p.parked), Pending: len(p.parked), Moved: p.moved}
	conns := slices.Clone(p.conns)
	p.mu.Unlock()
	for _, pc := range conns {
		if pc.c.Phase() == connfsm.Ready {
			st.Ready++
		}
		s := pc.c.Stats()
		st.Connects += s.Connects
		st.Reconnects += s.Reconnects
		st.MessagesIn += s.MessagesIn
		st.MessagesOut += s.MessagesOut
		st.BytesIn += s.BytesIn
		st.BytesOut += s.BytesOut
		st.Pings += s.Pings
		st.DeadPings += s.DeadPings
		st.Unsent += s.Unsent
		st.AnsweredPings += s.AnsweredPings
		st.LastRTT = max(st.LastRTT, s.LastRTT)
		st.NextDelay = max(st.NextDelay, s.NextDelay)
	}
	return st
}
