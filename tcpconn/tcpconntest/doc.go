// Package tcpconntest is a scripted venue for testing clients of framed
// TCP and TLS feeds, as net/http/httptest is to net/http. It echoes,
// discards, or plays a script of the faults real feeds put clients
// through, and records what it saw. It depends only on package framing and
// the standard library: it knows nothing of the client under test.
//
// # Transports
//
// NewServer runs the venue in memory. Each call to DialContext is a
// net.Pipe, so under testing/synctest the venue, the client and every
// timer run in virtual time. A minute of heartbeats takes no real time,
// and a test is deterministic. Give DialContext to the client as its
// dialer; the address ("venue.test:1") never resolves. A net.Pipe holds
// no bytes: a write waits for the other end's read. So a client must read
// while it writes, as a client with a reader of its own does.
//
// NewTCPServer and NewTLSServer listen on loopback, for tests that need
// real sockets and real time: a reset is then a TCP RST. A TLS venue
// presents a self-signed certificate; ClientTLS, CertPool and CAPEM (the
// contents of a CA file) trust it. Both behave as the in-memory venue
// otherwise.
//
// Close the venue before the test, or the synctest bubble, ends. It
// resets every connection and returns once every goroutine it started has
// returned.
//
// # Frames
//
// The venue reads and writes frames in one framing.Framer: framing.Line{}
// unless the Framing option says otherwise. ReadLimit bounds what it
// reads.
//
// # Behaviours
//
// What a connection does is a Plan: a list of Behaviors played together.
// Every connection plays Echo unless an option or a cue says otherwise:
//
//   - Default(b...) and SetDefault(b...): what connections do when nothing
//     else says.
//   - Script(plans...): the n-th connection plays plans[n-1].
//   - Next(b...): the next connection plays b.
//   - Choose(fn): decide from the connection's number.
//
// The behaviours, each a constructor:
//
//	Echo()                 send every frame back
//	Discard()              read and drop every frame
//	AnswerPing(ping, pong) answer an application heartbeat ("ping" → "pong")
//	LoginAck(prefix, ack)  answer a login with an ack
//	SubAck(prefix, fn)     answer "sub:K" with fn(K)
//	Reply(fn)              answer what fn accepts
//	Push(every, next)      send frames on a ticker
//	Reset()                drop with a RST (alone: accept, then drop)
//	Close()                close with a FIN
//	CloseAfter(n)          close once n frames are received
//	Blackhole()            keep the connection, drop what comes, answer nothing
//	Split(n, pause)        send every frame in n writes, pause apart
//	Oversized(size)        send a frame of size bytes
//	Raw(p)                 write bytes outside any frame: half a frame, a lying prefix
//	After(d, b)            b, d after the connection opens
//	Func(fn), OnMessage(fn) anything else, with the Conn
//
// The plan's actions run together. Each frame received goes to the plan's
// message handlers in the order listed, until one takes it. List the
// answering behaviours before Echo or Discard.
//
// On cue, for the connections open now:
//
//   - ResetAll and CloseAll end them.
//   - Blackhole(on) silences them, and future ones too.
//   - AnswerPings(on) turns the replies to heartbeats on or off.
//   - Down stops listening on the address; Up listens again. Restart does
//     both.
//   - Conns acts on one connection: Conn.Send, Conn.SendSplit,
//     Conn.WriteRaw, Conn.Close, Conn.Reset, Conn.Blackhole.
//
// # Records
//
// Connections returns a record of every connection, in order: its
// number, when it opened and closed and why, and every frame received and
// sent. Stats counts connections and frames; WithoutRecording keeps the
// counters only, for long runs. Await waits until a condition on the
// records holds, waking on every change: the way to wait over TCP
// without polling.
package tcpconntest
