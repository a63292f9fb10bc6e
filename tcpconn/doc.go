// Package tcpconn is a resilient client of framed TCP and TLS feeds: FIX
// sessions, line protocols, device links. It runs package session's
// lifecycle over a TCP connection, as wsconn runs it over a WebSocket.
//
// A message is a frame. The framing is a framing.Framer: newline-delimited
// lines (framing.Line, the default) or 4-byte big-endian length prefixes
// (framing.Length32), or one of the caller's. A frame that is valid UTF-8
// is a Text message, any other a Binary one. A payload the framing cannot
// carry (a newline in a line) fails its Send with an error matching
// framing.ErrPayload, with a framing.Checker (both built-ins are), and
// nothing is written.
//
// TCP has no ping. Without session.WithAppHeartbeat the connection has no
// heartbeat: the reads and the data watchdog (session.WithIdleTimeout)
// alone find a dead peer. Give both for a feed that may go silent.
//
// Close half-closes the connection (a FIN, or TLS's close_notify) after
// the messages accepted, and waits for the peer to close its side, up to
// the close timeout. A connection that cannot half-close (a dialer's own
// net.Conn, the in-memory venue's net.Pipe) is closed at once.
// Everything else (login, subscriptions, policies, the Pool) is session's.
package tcpconn
