package loadgen

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/connfsm/connfsm/wsconn"
)

// bucket is the width of the dial-rate buckets during a restart.
const bucket = 100 * time.Millisecond

// counters are updated by every client.
type counters struct {
	alive, reconnects    atomic.Int64
	dials                atomic.Int64 // entries into Connecting
	pongTimeouts         atomic.Int64
	ended                atomic.Int64 // clients that reached Closed (gave up)
	echoes, sendFailures atomic.Uint64
	pings                atomic.Uint64 // raw clients' (a wsconn.Client counts its own)
	gateWaits            atomic.Int64  // redials a dial gate held longer than their backoff

	// Dials that failed for want of a file descriptor, by limit, and the
	// clients that had one.
	emfileDials, enfileDials, fileLimitClients atomic.Uint64

	lostMu     sync.Mutex
	lostByKind map[string]uint64 // by cause

	// During a restart, dials are counted by the time they happened, in
	// bucket-wide buckets from dialOrigin (unix nanoseconds; 0: not
	// counting): a sampler that polls a counter would put every dial of a
	// moment it was itself delayed into one bucket. dialBuckets is set
	// before the first client starts.
	dialOrigin  atomic.Int64
	dialBuckets []atomic.Int64
}

// dialed counts a dial attempt that started at t.
func (cnt *counters) dialed(t time.Time) {
	cnt.dials.Add(1)
	o := cnt.dialOrigin.Load()
	if o == 0 {
		return
	}
	if i := (t.UnixNano() - o) / int64(bucket); i >= 0 && i < int64(len(cnt.dialBuckets)) {
		cnt.dialBuckets[i].Add(1)
	}
}

// The causes of a lost connection the report counts.
const (
	causePongTimeout = "pong timeout"
	causeRead        = "read"  // the read failed: the peer closed or reset the connection
	causePing        = "ping"  // the ping could not be written
	causeOther       = "other" // anything else (a write failed, ...)
)

// lostCause names the cause of a lost connection, telling them apart by
// their type, never by their text.
func lostCause(err error) string {
	switch {
	case errors.Is(err, wsconn.ErrPongTimeout):
		return causePongTimeout
	case errors.Is(err, wsconn.ErrReadFailed):
		return causeRead
	case errors.Is(err, wsconn.ErrPingFailed):
		return causePing
	}
	return causeOther
}

// dialFailed counts a failed dial if a file limit stopped it, and
// reports whether it did. first says whether it is its client's first such
// dial.
func (cnt *counters) dialFailed(err error, first bool) bool {
	switch fileLimitKind(err) {
	case limitProcess:
		cnt.emfileDials.Add(1)
	case limitSystem:
		cnt.enfileDials.Add(1)
	default:
		return false
	}
	if first {
		cnt.fileLimitClients.Add(1)
	}
	return true
}

// fileLimit returns what the file limits stopped, nil if nothing.
func (cnt *counters) fileLimit() *FileLimit {
	l := FileLimit{ProcessDials: cnt.emfileDials.Load(), SystemDials: cnt.enfileDials.Load(), Clients: cnt.fileLimitClients.Load()}
	if l.ProcessDials+l.SystemDials == 0 {
		return nil
	}
	l.Limit = openFileLimit()
	return &l
}

// lost counts a connection lost with err, by cause.
func (cnt *counters) lost(err error) { cnt.lostAs(lostCause(err)) }

// lostAs counts a connection lost, by its cause.
func (cnt *counters) lostAs(cause string) {
	if cause == causePongTimeout {
		cnt.pongTimeouts.Add(1)
	}
	cnt.lostMu.Lock()
	if cnt.lostByKind == nil {
		cnt.lostByKind = map[string]uint64{}
	}
	cnt.lostByKind[cause]++
	cnt.lostMu.Unlock()
}

// lostCauses returns a copy of the counts by cause, nil if none.
func (cnt *counters) lostCauses() map[string]uint64 {
	cnt.lostMu.Lock()
	defer cnt.lostMu.Unlock()
	if len(cnt.lostByKind) == 0 {
		return nil
	}
	out := make(map[string]uint64, len(cnt.lostByKind))
	for k, v := range cnt.lostByKind {
		out[k] = v
	}
	return out
}
