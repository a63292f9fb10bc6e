// Package venue holds what the scripted test venues (wsconntest,
// tcpconntest) share: the in-memory address and refusal, a TCP listener
// that can be reopened, the plan each connection plays, the registry of
// connections and their counters, change notification for Await, and the
// timing of behaviours.
package venue

import (
	"fmt"
	"math/rand/v2"
	"net"
	"strconv"
	"syscall"
)

// MemHost is the host of an in-memory venue's address: reserved (RFC
// 2606), it never resolves, so only the venue's own dialer reaches it.
const MemHost = "venue.test"

// ErrRefused is what an in-memory dial returns while the venue is Down:
// what a TCP dial to a closed port returns.
var ErrRefused error = &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}

// ListenTCP listens on addr; pkg prefixes its errors. Port 0 picks a free
// port below the usual ephemeral range first: after Down the port must
// still be free for Up, and a port from the ephemeral range can meanwhile
// become the source port of some outgoing connection (a client's own dial
// attempts, for one).
func ListenTCP(pkg, addr string) (net.Listener, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%s: address %q: %w", pkg, addr, err)
	}
	if port == "0" {
		for range 20 {
			p := 20000 + rand.IntN(12000) // below Linux's default 32768-60999
			if ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p))); err == nil {
				return ln, nil
			}
		}
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%s: listen %s: %w", pkg, addr, err)
	}
	return ln, nil
}
