package loadgen

import (
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// poolVenue is the venue of the pool mode: over loopback TCP, it answers
// "sub:K" with "ack:K" (and "subs:K1,K2,..." with an ack for each key, as
// venues take lists), keeps which keys each open connection subscribed
// (less "unsub:K"), echoes everything else, and refuses a handshake with
// 429 and Retry-After when its budget of handshakes per window is spent,
// as venues limit connections per IP. It timestamps every handshake
// request, for the dials per window.
type poolVenue struct {
	srv    *wsconntest.Server
	budget Budget // zero: no limit

	mu         sync.Mutex
	handshakes []time.Time // every handshake request
	let        []time.Time // handshakes let through within the budget's window
	refused    int         // refused for the budget
	conns      map[*wsconntest.Conn]*venueConn
	count      map[string]int // key → open connections subscribed to it
	// active counts the keys of count above 0, dups those above 1: kept
	// as count changes, so that asking costs nothing at a million keys.
	active, dups int
	resubs       int // subscribes of a key its connection already had, no unsubscribe between
	// subMsgs counts the subscribe messages, subKeys the keys they asked
	// for, since the last mark.
	subMsgs, subKeys int
}

type venueConn struct {
	keys   map[string]struct{}
	closed bool
}

func startPoolVenue(budget Budget) (*poolVenue, error) {
	v := &poolVenue{budget: budget, conns: map[*wsconntest.Conn]*venueConn{}, count: map[string]int{}}
	srv, err := wsconntest.NewTCPServer("127.0.0.1:0", wsconntest.WithoutRecording(),
		wsconntest.Choose(v.handshake),
		wsconntest.Default(wsconntest.Func(v.track), wsconntest.OnMessage(v.message), wsconntest.Echo()))
	if err != nil {
		return nil, err
	}
	v.srv = srv
	return v, nil
}

// handshake counts a handshake request and refuses it if the budget is
// spent: nil lets it through to the default behaviours.
func (v *poolVenue) handshake(*http.Request, int) []wsconntest.Behavior {
	v.mu.Lock()
	defer v.mu.Unlock()
	now := time.Now()
	v.handshakes = append(v.handshakes, now)
	if v.budget.Dials == 0 {
		return nil
	}
	i := 0
	for i < len(v.let) && now.Sub(v.let[i]) >= v.budget.Window {
		i++
	}
	v.let = v.let[i:]
	if len(v.let) < v.budget.Dials {
		v.let = append(v.let, now)
		return nil
	}
	v.refused++
	wait := v.let[0].Add(v.budget.Window).Sub(now)
	secs := int((wait + time.Second - 1) / time.Second)
	return []wsconntest.Behavior{wsconntest.Refuse(http.StatusTooManyRequests, http.Header{"Retry-After": {strconv.Itoa(secs)}})}
}

// conn returns c's record; mu is held.
func (v *poolVenue) conn(c *wsconntest.Conn) *venueConn {
	vc := v.conns[c]
	if vc == nil {
		vc = &venueConn{keys: map[string]struct{}{}}
		v.conns[c] = vc
	}
	return vc
}

// track forgets a connection's subscriptions when it ends.
func (v *poolVenue) track(ctx context.Context, c *wsconntest.Conn) {
	<-ctx.Done()
	v.mu.Lock()
	defer v.mu.Unlock()
	vc := v.conn(c)
	vc.closed = true
	for k := range vc.keys {
		v.add(k, -1)
	}
	delete(v.conns, c)
}

// message acknowledges and records subscriptions; anything else goes on
// to Echo.
func (v *poolVenue) message(c *wsconntest.Conn, m wsconntest.Message) bool {
	text := string(m.Data)
	var keys []string
	unsub := false
	if list, ok := strings.CutPrefix(text, "subs:"); ok {
		keys = strings.Split(list, ",")
	} else if k, ok := strings.CutPrefix(text, "sub:"); ok {
		keys = []string{k}
	} else if k, ok := strings.CutPrefix(text, "unsub:"); ok {
		keys, unsub = []string{k}, true
	} else {
		return false
	}
	v.mu.Lock()
	vc := v.conn(c)
	if !unsub {
		v.subMsgs++
		v.subKeys += len(keys)
	}
	for _, k := range keys {
		switch _, had := vc.keys[k]; {
		case vc.closed || c.Context().Err() != nil:
		case unsub && had:
			delete(vc.keys, k)
			v.add(k, -1)
		case unsub:
		case had:
			v.resubs++
		default:
			vc.keys[k] = struct{}{}
			v.add(k, 1)
		}
	}
	v.mu.Unlock()
	if !unsub {
		for _, k := range keys {
			_ = c.SendText(c.Context(), "ack:"+k)
		}
	}
	return true
}

// mark starts counting the subscribe messages and their keys afresh, and
// returns the counts until now.
func (v *poolVenue) mark() (msgs, keys int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	msgs, keys = v.subMsgs, v.subKeys
	v.subMsgs, v.subKeys = 0, 0
	return msgs, keys
}

// add changes the connections subscribed to k by d (1 or -1), and the
// counts of keys active and duplicated with it; mu is held.
func (v *poolVenue) add(k string, d int) {
	n := v.count[k]
	switch {
	case d > 0 && n == 0:
		v.active++
	case d > 0 && n == 1:
		v.dups++
	case d < 0 && n == 1:
		v.active--
	case d < 0 && n == 2:
		v.dups--
	}
	if n+d == 0 {
		delete(v.count, k)
	} else {
		v.count[k] = n + d
	}
}

// subscriptions returns the number of keys subscribed on open connections,
// and of those subscribed on more than one.
func (v *poolVenue) subscriptions() (active, duplicates int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.active, v.dups
}

// resubscribes returns how many subscribes came for a key already
// subscribed on the same connection.
func (v *poolVenue) resubscribes() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.resubs
}

// handshakeTimes returns the handshake requests' times so far, in order.
func (v *poolVenue) handshakeTimes() []time.Time {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.handshakes)
}

func (v *poolVenue) refusals() int {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.refused
}

// maxInWindow returns the most of times within any window [t, t+w).
func maxInWindow(times []time.Time, w time.Duration) int {
	ts := slices.Clone(times)
	slices.SortFunc(ts, func(a, b time.Time) int { return a.Compare(b) })
	most, j := 0, 0
	for i := range ts {
		for j < len(ts) && ts[j].Sub(ts[i]) < w {
			j++
		}
		most = max(most, j-i)
	}
	return most
}
