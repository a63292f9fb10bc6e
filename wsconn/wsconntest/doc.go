// Package wsconntest is a scripted WebSocket venue for tests, as
// net/http/httptest is to net/http. The server echoes, discards, or plays
// a script of faults. They are the faults real venues put clients through:
// exchanges, chat and device gateways. It records what it saw, for
// assertions. It depends only on github.com/coder/websocket and the
// standard library, and knows nothing of the client under test.
//
// # Transports
//
// NewServer runs the venue in memory: each dial is a net.Pipe. Under
// testing/synctest, the venue, the client and every timer then run in
// virtual time. A minute of heartbeats takes no real time, and a test is
// deterministic. The only way in is the HTTP client from Client. The URL's
// host ("venue.test") is never resolved. With package wsconn:
//
//	srv := wsconntest.NewServer()
//	defer srv.Close()
//	c, err := wsconn.Dial(ctx, srv.URL+"/feed", wsconn.WithHTTPClient(srv.Client()))
//
// NewTCPServer and NewTLSServer listen on loopback TCP, and TLS with a
// certificate Client trusts. They serve tests that need real sockets and
// real time: a reset is then a TCP RST. Both transports behave the same
// otherwise. Close the venue before the test, or the synctest bubble,
// ends. Close resets every connection. It returns once every goroutine the
// venue started has returned.
//
// # Behaviours
//
// What a connection does is a Plan: a list of Behaviors played together.
// By default every connection plays Echo. Change it with options or on cue:
//
//   - Default(b...) and SetDefault(b...): what connections do when
//     nothing else says.
//   - Script(plans...): the n-th handshake request plays plans[n-1]: the
//     first connection is reset after a second, the second dial is
//     refused, the third echoes.
//   - Next(b...): the next handshake request plays b (cue the next dial).
//   - Choose(fn): decide from the request (its path, query, headers) and
//     its number.
//
// The behaviours, each a constructor:
//
//	Echo()                     send every message back
//	Discard()                  read and drop; answer pings, send no data (a zombie feed)
//	Reset()                    drop without a close handshake (alone: accept then drop)
//	Blackhole()                read nothing, answer nothing, pings included (a half-open peer)
//	Freeze()                   stop reading: the client's writes block on a full window
//	Close(code, reason)        close with a close frame
//	After(d, b)                b, d after the upgrade: After(time.Second, Reset())
//	Refuse(status, header)     refuse the handshake: 503 with Retry-After, 429, 401
//	Redirect(status, location) answer the handshake with a redirect (to its own path: a loop)
//	Stall()                    never answer the handshake
//	BadAccept()                a 101 with a wrong Sec-WebSocket-Accept, socket kept open
//	Garbage(p)                 a correct 101, then bytes that are not frames
//	Push(every, next)          send data on a schedule
//	RequireHeartbeat(h)        require an application heartbeat ("ping" → "pong") or close
//	RateLimit(n, per)          close with 1008 past n messages per period
//	PingClient(every, timeout) protocol pings; close if the pong is late
//	AppPingClient(p)           application pings ({"ping":n} → {"pong":n}); close if the reply is late
//	DelayPongs(d)              answer each protocol ping d late
//	Func(fn), OnMessage(fn)    anything else, with the Conn
//	Handshake(fn)              answer the handshake request yourself
//
// A plan's first handshake behaviour decides the handshake: Refuse,
// Redirect, Stall, BadAccept, Garbage or Handshake. Without one, the venue
// upgrades. Then the plan's actions run together. Each message received
// goes to the plan's message handlers, in the order listed, until one
// takes it. So list RequireHeartbeat or AppPingClient before Echo: the
// heartbeats are then answered, not echoed. RateLimit passes the messages
// under the limit on.
//
// On cue, for the connections open now:
//
//   - ResetAll and CloseAll(code, reason) end them.
//   - Blackhole(on) silences them, and future connections too.
//   - Down and Up refuse dials in between. Over TCP, the port is closed
//     and reopened.
//   - Conns acts on one connection: Conn.Send, Conn.Close, Conn.Reset,
//     Conn.Blackhole, Conn.Freeze, Conn.Ping.
//
// # Records
//
// Connections returns a record of every handshake request, in order. A
// record holds:
//
//   - its number, path, query and headers, so a test sees the credentials
//     each dial carried;
//   - the status it was answered with, and the subprotocol;
//   - when it opened and closed, and why;
//   - the data messages received and sent;
//   - every frame on the wire, in both directions.
//
// Frames come from parsing the bytes the venue's socket reads and writes
// after the upgrade. So control frames are there too: the client's pings
// and the pongs answering them, and the venue's pings and the client's
// pongs. So are close frames with their codes and reasons
// (Connection.CloseFrom), and each fragment of a message.
//
// Stats counts dials, handshakes, upgrades, open connections and
// messages. WithoutRecording keeps the counters only, for long runs and
// load.
//
// Await waits until a condition on the records holds, waking on every
// change. It is the way to wait over TCP without polling. Under synctest,
// synctest.Wait is often enough.
//
// # Testing a client's reconnect in virtual time
//
// Here is a test of a client's reconnect against a venue that resets the
// connection, run in a synctest bubble. TestExampleReconnect, in this
// package's tests, is this test:
//
//	func TestReconnect(t *testing.T) {
//		synctest.Test(t, func(t *testing.T) {
//			srv := wsconntest.NewServer(wsconntest.Script(
//				wsconntest.Plan{wsconntest.Echo(), wsconntest.After(70*time.Second, wsconntest.Reset())},
//			))
//			defer srv.Close()
//			alive := make(chan struct{}, 2)
//			c, err := wsconn.Dial(t.Context(), srv.URL+"/feed",
//				wsconn.WithHTTPClient(srv.Client()),
//				wsconn.WithHeartbeat(20*time.Second, 5*time.Second),
//				wsconn.OnRecord(func(_ context.Context, r fsm.Record[connfsm.State, connfsm.Event]) {
//					if r.Kind != fsm.RecordTransition {
//						return
//					}
//					if r.Event == connfsm.Connected {
//						alive <- struct{}{}
//					}
//				}))
//			if err != nil {
//				t.Fatal(err)
//			}
//			defer c.Close(context.Background())
//			<-alive
//			// reset after 70s of virtual time (pings at 20s, 40s, 60s), and back
//			<-alive
//			synctest.Wait() // the venue has recorded it all
//			if got := srv.Stats().Upgraded; got != 2 {
//				t.Errorf("connections = %d, want 2", got)
//			}
//			conn, _ := srv.Connection(1)
//			if n := len(conn.FramesOf(wsconntest.FromClient, wsconntest.OpPing)); n != 3 {
//				t.Errorf("pings before the reset = %d, want 3", n)
//			}
//		})
//	}
//
// Over TCP the same works in real time; the examples (Example_rateLimit)
// run that way.
package wsconntest
