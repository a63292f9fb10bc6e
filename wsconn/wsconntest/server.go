package wsconntest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/coder/websocket"

	"github.com/connfsm/connfsm/internal/testcert"
	"github.com/connfsm/connfsm/internal/venue"
)

// Server is a WebSocket venue for tests. Start one with NewServer (in
// memory), NewTCPServer or NewTLSServer (loopback TCP), dial its URL with
// the HTTP client from Client, and Close it when done. Its methods are
// safe for concurrent use.
type Server struct {
	// URL is the venue's base URL, without a trailing slash:
	// "ws://venue.test" in memory, "ws://127.0.0.1:PORT" over TCP,
	// "wss://127.0.0.1:PORT" over TLS. Any path and query may be added.
	URL string

	cfg    config
	ctx    context.Context // ends when Close is called; every connection's derives from it
	cancel context.CancelFunc

	mem       *memListener // the in-memory transport, or nil
	tls       *tls.Config  // TLS, or nil
	transport *http.Transport
	client    *http.Client
	hole      atomic.Bool
	stats     counters

	mu      sync.Mutex
	gate    venue.Gate
	addr    string       // TCP: host:port, kept across Down and Up
	hs      *http.Server // the serving period's server; nil while Down over TCP
	ln      net.Listener // TCP: the serving period's listener
	wires   map[*wireConn]struct{}
	plans   *venue.Plans[Behavior]            // numbers handshake requests
	reg     venue.Registry[*Conn, Connection] // every connection recorded (only the live ones WithoutRecording)
	changes venue.Changes                     // for Await

	handlers  sync.WaitGroup // handlers between entry and return
	serving   sync.WaitGroup // http.Server.Serve loops
	closeOnce sync.Once
}

// counters are every venue's, and the handshakes'.
type counters struct {
	venue.Counters
	handshakes, upgraded atomic.Int64
}

// config is what the options set.
type config struct {
	def       []Behavior
	script    [][]Behavior
	choose    func(r *http.Request, n int) []Behavior
	accept    websocket.AcceptOptions
	readLimit int64 // 0: no limit
	noRecord  bool
}

// Option configures a Server.
type Option func(*config)

// Default sets what a connection does when no Script, Next or Choose
// decides: Echo() unless set. Default() with no behaviour accepts and
// then reads and discards, like Discard.
func Default(b ...Behavior) Option {
	return func(c *config) { c.def = slices.Clone(b) }
}

// Plan is what one connection does: behaviours, run together.
type Plan []Behavior

// Script sets what the first connections do: the venue's n-th handshake
// request plays plans[n-1]; those after the last plan are decided by Next,
// Choose or the default. A refused handshake counts: a Script of
// {Refuse(503, h)}, {Echo()} refuses the first dial and echoes on the
// second.
func Script(plans ...Plan) Option {
	return func(c *config) {
		c.script = venue.Clone(plans)
	}
}

// Choose decides what a connection does from its handshake request and
// its number n (from 1), when Script and Next do not; a nil result leaves
// it to the default. fn runs on the handshake's goroutine and must not
// block.
func Choose(fn func(r *http.Request, n int) []Behavior) Option {
	return func(c *config) { c.choose = fn }
}

// AcceptOptions sets the options the venue accepts connections with:
// subprotocols, compression. Origin checks are off unless o sets
// OriginPatterns. The venue chains o's OnPingReceived after its own
// (DelayPongs).
func AcceptOptions(o websocket.AcceptOptions) Option {
	return func(c *config) { c.accept = o }
}

// ReadLimit sets the largest message the venue reads, in bytes; a larger
// one closes the connection with status 1009. Default, and n <= 0: no
// limit, as in tcpconntest.
func ReadLimit(n int64) Option {
	return func(c *config) { c.readLimit = max(n, 0) }
}

// WithoutRecording keeps counters only (Stats): no messages, no frames,
// and no record of a connection once it is closed; Connections returns the
// open ones, without messages. For long runs and load, where the record
// would grow without bound.
func WithoutRecording() Option { return func(c *config) { c.noRecord = true } }

func newConfig(opts []Option) config {
	cfg := config{def: []Behavior{Echo()}}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	return cfg
}

func newServer(opts []Option) *Server {
	ctx, cancel := context.WithCancel(context.Background())
	cfg := newConfig(opts)
	return &Server{
		cfg:    cfg,
		ctx:    ctx,
		cancel: cancel,
		wires:  map[*wireConn]struct{}{},
		plans:  venue.NewPlans(cfg.script, cfg.def),
	}
}

// NewServer starts a venue on an in-memory transport: every connection is
// a net.Pipe, so under testing/synctest everything the venue and the client
// do runs in virtual time. Dial it with the HTTP client from Client; its
// URL's host is never resolved. Close it before the synctest bubble ends.
func NewServer(opts ...Option) *Server {
	s := newServer(opts)
	s.URL = "ws://" + venue.MemHost
	s.mem = newMemListener(s)
	s.transport = &http.Transport{DialContext: s.mem.dial, DisableKeepAlives: true}
	s.client = &http.Client{Transport: s.transport}
	s.hs = s.serve(s.mem)
	return s
}

// NewTCPServer starts a venue listening on addr over TCP; "" listens on a
// free port of 127.0.0.1. Keep it to loopback: the venue has no
// authentication. The address is kept across Down and Up.
func NewTCPServer(addr string, opts ...Option) (*Server, error) {
	return newTCP(addr, nil, nil, opts)
}

// NewTLSServer is NewTCPServer with TLS: the URL is wss://, and Client's
// HTTP client trusts the venue's self-signed certificate (valid for
// 127.0.0.1, ::1 and localhost), as httptest.NewTLSServer's does.
func NewTLSServer(addr string, opts ...Option) (*Server, error) {
	cert, err := testcert.New("wsconntest")
	if err != nil {
		return nil, err
	}
	conf := &tls.Config{Certificates: []tls.Certificate{cert.TLS}, NextProtos: []string{"http/1.1"}, MinVersion: tls.VersionTLS12}
	return newTCP(addr, conf, cert.Pool, opts)
}

func newTCP(addr string, conf *tls.Config, roots *x509.CertPool, opts []Option) (*Server, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := venue.ListenTCP("wsconntest", addr)
	if err != nil {
		return nil, err
	}
	s := newServer(opts)
	s.tls = conf
	s.addr = ln.Addr().String()
	s.transport = &http.Transport{DisableKeepAlives: true}
	scheme := "ws://"
	if conf != nil {
		scheme = "wss://"
		s.transport.TLSClientConfig = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}
	}
	s.URL = scheme + s.addr
	s.client = &http.Client{Transport: s.transport}
	s.ln = ln
	s.hs = s.serve(&tcpListener{Listener: ln, srv: s, tls: s.tls})
	return s, nil
}

// Client returns an HTTP client that dials the venue: for the in-memory
// transport the only way to reach it, for TLS one that trusts its
// certificate. Give it to the client under test (wsconn.WithHTTPClient,
// websocket.DialOptions.HTTPClient). Keep-alives are off, so every
// handshake has a connection of its own. Close closes the client's idle
// connections.
func (s *Server) Client() *http.Client { return s.client }

// Close stops the venue: no new connection, every connection reset (no
// close handshake), and it returns once every goroutine the venue started
// has returned. It is idempotent. It waits for every behaviour, so a behaviour (Func, OnMessage) must
// not call it, but start it on a goroutine of its own: go srv.Close().
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.gate.Close()
		hs, ln := s.hs, s.ln
		s.hs, s.ln = nil, nil
		s.mu.Unlock()
		s.cancel()
		if s.mem != nil {
			_ = s.mem.Close()
		}
		if hs != nil {
			_ = hs.Close()
		}
		if ln != nil {
			_ = ln.Close()
		}
		s.ResetAll()
		s.handlers.Wait()
		s.serving.Wait()
		s.transport.CloseIdleConnections()
		s.notify()
	})
}

// track registers a transport connection, so ResetAll, Down and Close
// reach it; tcp is the socket under a TLS connection. A connection made
// while the venue is down or closed (its dial raced Down or Close, which
// may have reset the others already) is closed at once.
func (s *Server) track(c net.Conn, tcp *net.TCPConn) *wireConn {
	w := &wireConn{Conn: c, srv: s, tcp: tcp, closed: make(chan struct{})}
	w.done = func() {
		s.mu.Lock()
		delete(s.wires, w)
		s.mu.Unlock()
	}
	s.mu.Lock()
	shut := s.gate.Shut()
	if !shut {
		s.wires[w] = struct{}{}
	}
	s.mu.Unlock()
	if shut {
		_ = w.Close()
	}
	return w
}

// ResetAll drops every connection at once, without a close handshake:
// over TCP with a RST, in memory by closing the pipe. That is what a
// crashed venue, a restarted load balancer or a broken NAT looks like to
// the client. Connections in the middle of their handshake are dropped
// too. Later connections are not affected.
func (s *Server) ResetAll() {
	s.mu.Lock()
	wires := make([]*wireConn, 0, len(s.wires))
	for w := range s.wires {
		wires = append(wires, w)
	}
	s.mu.Unlock()
	for _, w := range wires {
		w.reset()
	}
}

// CloseAll closes every open connection with a close frame carrying code
// and reason, and returns once every one has ended (coder/websocket bounds
// each close handshake at 10 s). The code and reason must fit a close
// frame, as Conn.Close says. It waits for the connection a behaviour (Func, OnMessage) runs on too,
// so a behaviour must not call it, but start it on a goroutine of its
// own: go srv.CloseAll().
func (s *Server) CloseAll(code websocket.StatusCode, reason string) {
	var wg sync.WaitGroup
	for _, c := range s.Conns() {
		wg.Go(func() {
			_ = c.Close(code, reason)
			<-c.Done()
		})
	}
	wg.Wait()
}

// Blackhole makes every connection, open and future, a black hole while on
// is true: what the client writes is read and dropped, what the venue
// writes vanishes (pongs included), and nothing is closed. That is a
// half-open peer. A handshake made meanwhile is never answered.
func (s *Server) Blackhole(on bool) { s.hole.Store(on) }

// Down makes the venue unreachable: new dials are refused (connection
// refused) and every connection is reset. Over TCP it stops listening;
// Up listens again on the same address.
func (s *Server) Down() {
	s.mu.Lock()
	s.gate.Down()
	hs, ln := s.hs, s.ln
	if s.mem == nil {
		s.hs, s.ln = nil, nil
	}
	s.mu.Unlock()
	if s.mem == nil {
		if hs != nil {
			_ = hs.Close()
		}
		if ln != nil {
			// hs.Close closes only a listener Serve has started on; Serve
			// runs in a goroutine, so close it here too: Up may reuse the
			// port at once.
			_ = ln.Close()
		}
	}
	s.ResetAll()
}

// ErrClosed is returned by Up after Close.
var ErrClosed = errors.New("wsconntest: server closed")

// Up makes the venue reachable again after Down. Over TCP it listens on
// the same address, which fails if something else took the port
// meanwhile. Up on a venue that is up does nothing.
func (s *Server) Up() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gate.Up(ErrClosed, func() error {
		if s.mem != nil {
			return nil
		}
		ln, err := venue.ListenTCP("wsconntest", s.addr)
		if err != nil {
			return err
		}
		s.ln = ln
		s.hs = s.serve(&tcpListener{Listener: ln, srv: s, tls: s.tls})
		return nil
	})
}

func (s *Server) isDown() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gate.Shut()
}

// Next makes the next handshake request that no Script plan covers play
// b; calls queue up, one plan per request. It is how a test cues what the
// next dial meets: Next(Refuse(503, h)) refuses the next reconnect.
func (s *Server) Next(b ...Behavior) { s.plans.Next(b) }

// SetDefault changes what connections do when nothing else decides, from
// the next handshake on; open connections keep theirs.
func (s *Server) SetDefault(b ...Behavior) { s.plans.SetDefault(b) }

// Conns returns the open WebSocket connections, in the order they were
// made, for acting on one of them on cue.
func (s *Server) Conns() []*Conn { return s.reg.Live() }

// Connections returns what the venue recorded of every handshake request
// so far, in order (see WithoutRecording).
func (s *Server) Connections() []Connection { return s.reg.Records() }

// Connection returns the record of the n-th handshake request (from 1).
func (s *Server) Connection(n int) (Connection, bool) { return s.reg.Record(n) }

// Stats returns the venue's counters.
func (s *Server) Stats() Stats {
	c := s.stats.Load()
	return Stats{Accepted: c.Accepted, Refused: c.Refused, Handshakes: s.stats.handshakes.Load(),
		Upgraded: s.stats.upgraded.Load(), Open: c.Open, Received: c.Received, Sent: c.Sent}
}

// Await waits until cond returns true, checking it now and again after
// each change the venue records (a connection made or ended, a message, a
// frame), and returns nil, or ctx's cause if ctx ends first. cond may call
// the Server's methods. Under testing/synctest, synctest.Wait often does
// the same with less; over TCP Await is the way to wait without polling.
// A nil cond is an error.
func (s *Server) Await(ctx context.Context, cond func() bool) error {
	if cond == nil {
		return errors.New("wsconntest: Await: nil cond")
	}
	return s.changes.Await(ctx, cond)
}

func (s *Server) notify() { s.changes.Notify() }
