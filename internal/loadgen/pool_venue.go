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
// "sub:K" with "ack:K", keeps which keys each open connection subscribed
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
	resubs     int            // subscribes of a key its connection already had, no unsubscribe between
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
		v.count[k]--
	}
	delete(v.conns, c)
}

// message acknowledges and records subscriptions; anything else goes on
// to Echo.
func (v *poolVenue) message(c *wsconntest.Conn, m wsconntest.Message) bool {
	text := string(m.Data)
	sub, isSub := strings.CutPrefix(text, "sub:")
	unsub, isUnsub := strings.CutPrefix(text, "unsub:")
	if !isSub && !isUnsub {
		return false
	}
	v.mu.Lock()
	vc := v.conn(c)
	switch {
	case vc.closed || c.Context().Err() != nil:
	case isSub:
		if _, ok := vc.keys[sub]; !ok {
			vc.keys[sub] = struct{}{}
			v.count[sub]++
		} else {
			v.resubs++
		}
	case isUnsub:
		if _, ok := vc.keys[unsub]; ok {
			delete(vc.keys, unsub)
			v.count[unsub]--
		}
	}
	v.mu.Unlock()
	if isSub {
		_ = c.SendText(c.Context(), "ack:"+sub)
	}
	return true
}

// subscriptions returns the number of keys subscribed on open connections,
// and of those subscribed on more than one.
func (v *poolVenue) subscriptions() (active, duplicates int) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for _, n := range v.count {
		if n > 0 {
			active++
		}
		if n > 1 {
			duplicates++
		}
	}
	return active, duplicates
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
