package otelconnfsm

import (
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/connfsm/connfsm/internal/enum"
	"github.com/connfsm/connfsm/wsconn"
)

// Cause classes a lost connection's cause: a closed set, so that it can
// label a metric.
type Cause uint8

// The causes, as the label cause shows them.
const (
	// CauseOther: none of the others.
	CauseOther Cause = iota
	// CauseReset: the peer reset the TCP connection (ECONNRESET,
	// ECONNABORTED).
	CauseReset
	// CauseEOF: the connection ended without a close frame.
	CauseEOF
	// CausePongTimeout: the heartbeat's reply did not come in time.
	CausePongTimeout
	// CauseIdleTimeout: no data message came within the idle timeout.
	CauseIdleTimeout
	// CauseCloseFrame: the peer sent a close frame.
	CauseCloseFrame
	// CauseWriteError: a write (a ping, a message) failed.
	CauseWriteError
	// CauseRequested: the user asked for a fresh connection (Reconnect).
	CauseRequested

	causeCount
)

var causes = enum.NewList[Cause]("Cause(%d)",
	"other", "reset", "eof", "pong_timeout", "idle_timeout", "close_frame", "write_error", "requested")

// String returns the label value, e.g. "pong_timeout"; "other" for a
// value beyond the set, so that a label stays one of it.
func (c Cause) String() string {
	if c >= causeCount {
		c = CauseOther
	}
	return causes.Name(c)
}

// CauseOf classes the cause of a Lost transition (its payload). It never
// returns CauseRequested: that is a Reconnect, not a Lost.
func CauseOf(err error) Cause {
	var (
		ce *wsconn.CloseError
		oe *net.OpError
	)
	switch {
	case err == nil:
		return CauseOther
	case errors.As(err, &ce):
		return CauseCloseFrame
	case errors.Is(err, wsconn.ErrPongTimeout):
		return CausePongTimeout
	case errors.Is(err, wsconn.ErrIdleTimeout):
		return CauseIdleTimeout
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNABORTED):
		return CauseReset
	case errors.Is(err, wsconn.ErrPingFailed), errors.Is(err, syscall.EPIPE),
		errors.As(err, &oe) && oe.Op == "write":
		return CauseWriteError
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return CauseEOF
	}
	return CauseOther
}
