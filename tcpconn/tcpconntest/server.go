package tcpconntest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"reflect"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/connfsm/connfsm/internal/testcert"
	"github.com/connfsm/connfsm/internal/venue"
	"github.com/connfsm/connfsm/tcpconn/framing"
)

// Server is a framed TCP venue for tests. Start one with NewServer (in
// memory), NewTCPServer or NewTLSServer (loopback), connect to it, and
// Close it when done. Its methods are safe for concurrent use.
type Server struct {
	// URL is the venue's address as a client dials it:
	// "tcp://venue.test:1" in memory, "tcp://127.0.0.1:PORT" over TCP,
	// "tls://127.0.0.1:PORT" over TLS.
	URL string
	// Addr is URL's host:port, kept across Down and Up.
	Addr string

	cfg    config
	ctx    context.Context // ends at Close; every connection's derives from it
	cancel context.CancelFunc
	mem    bool
	tls    *tls.Config // the server's, or nil
	cert   *testcert.Cert
	hole   atomic.Bool
	mute   atomic.Bool // AnswerPing behaviours answer nothing
	stats  venue.Counters

	mu      sync.Mutex
	gate    venue.Gate
	ln      net.Listener // TCP: this listening period's; nil while Down
	plans   *venue.Plans[Behavior]
	reg     venue.Registry[*Conn, Connection] // every connection recorded (only the open ones WithoutRecording)
	changes venue.Changes                     // for Await

	running   sync.WaitGroup // connections being served
	accepting sync.WaitGroup // accept loops
	closeOnce sync.Once
}

// config is what the options set.
type config struct {
	def       []Behavior
	script    [][]Behavior
	choose    func(n int) []Behavior
	framer    framing.Framer
	readLimit int64
	noRecord  bool
}

// Option configures a Server.
type Option func(*config)

// Plan is what one connection does: behaviours, run together.
type Plan []Behavior

// Default sets what a connection does when no Script, Next or Choose
// decides: Echo() unless set. Default() with no behaviour reads and drops
// everything, like Discard.
func Default(b ...Behavior) Option {
	return func(c *config) { c.def = slices.Clone(b) }
}

// Script sets what the first connections do: the venue's n-th connection
// plays plans[n-1]; those after the last plan are decided by Next, Choose
// or the default.
func Script(plans ...Plan) Option {
	return func(c *config) {
		c.script = venue.Clone(plans)
	}
}

// Choose decides what the n-th connection (from 1) does when Script and
// Next do not; a nil result leaves it to the default. fn must not block.
func Choose(fn func(n int) []Behavior) Option {
	return func(c *config) { c.choose = fn }
}

// Framing sets the venue's frames, read and written: framing.Line{}
// unless set. A nil f, or one holding a nil pointer, keeps the default.
func Framing(f framing.Framer) Option {
	return func(c *config) {
		if f == nil {
			return
		}
		if v := reflect.ValueOf(f); v.Kind() == reflect.Pointer && v.IsNil() {
			return // its methods would panic on the venue's reader
		}
		c.framer = f
	}
}

// ReadLimit sets the largest frame the venue reads, in bytes; a larger one
// ends the connection, its Err matching framing.ErrTooBig. Default, and
// n <= 0: no limit.
func ReadLimit(n int64) Option { return func(c *config) { c.readLimit = n } }

// WithoutRecording keeps counters only (Stats): no messages, and no record
// of a connection once it is closed. For long runs and load.
func WithoutRecording() Option { return func(c *config) { c.noRecord = true } }

func newServer(opts []Option) *Server {
	cfg := config{def: []Behavior{Echo()}, framer: framing.Line{}}
	for _, o := range opts {
		if o != nil {
			o(&cfg)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &Server{cfg: cfg, ctx: ctx, cancel: cancel, plans: venue.NewPlans(cfg.script, cfg.def)}
}

// NewServer starts a venue in memory: each DialContext is a net.Pipe, so
// under testing/synctest the venue, the client and every timer run in
// virtual time. Its address never resolves: DialContext is the only way
// in. Close it before the bubble ends.
func NewServer(opts ...Option) *Server {
	s := newServer(opts)
	s.mem = true
	s.Addr = net.JoinHostPort(venue.MemHost, "1")
	s.URL = "tcp://" + s.Addr
	return s
}

// NewTCPServer starts a venue listening on addr over TCP; "" listens on a
// free port of 127.0.0.1. Keep it to loopback: the venue has no
// authentication. The address is kept across Down and Up.
func NewTCPServer(addr string, opts ...Option) (*Server, error) {
	return newTCP(addr, nil, opts)
}

// NewTLSServer is NewTCPServer with TLS, under a self-signed certificate
// valid for 127.0.0.1, ::1 and localhost, which ClientTLS and CAPEM trust.
func NewTLSServer(addr string, opts ...Option) (*Server, error) {
	cert, err := testcert.New("tcpconntest")
	if err != nil {
		return nil, err
	}
	return newTCP(addr, cert, opts)
}

func newTCP(addr string, cert *testcert.Cert, opts []Option) (*Server, error) {
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	s := newServer(opts)
	s.Addr = addr
	scheme := "tcp://"
	if cert != nil {
		s.cert = cert
		s.tls = &tls.Config{Certificates: []tls.Certificate{cert.TLS}, MinVersion: tls.VersionTLS12}
		scheme = "tls://"
	}
	if err := s.listen(); err != nil {
		s.cancel()
		return nil, err
	}
	s.Addr = s.ln.Addr().String()
	s.URL = scheme + s.Addr
	return s, nil
}

// ClientTLS returns a client configuration that trusts the venue's
// certificate, for a TLS venue; nil otherwise. Each call returns a new
// one.
func (s *Server) ClientTLS() *tls.Config {
	if s.cert == nil {
		return nil
	}
	return &tls.Config{RootCAs: s.CertPool(), MinVersion: tls.VersionTLS12}
}

// CertPool returns a pool trusting the venue's certificate, for a TLS
// venue; nil otherwise.
func (s *Server) CertPool() *x509.CertPool {
	if s.cert == nil {
		return nil
	}
	return s.cert.Pool.Clone()
}

// CAPEM returns the venue's certificate in PEM, what a CA file given to a
// client holds, for a TLS venue; nil otherwise.
func (s *Server) CAPEM() []byte {
	if s.cert == nil {
		return nil
	}
	return slices.Clone(s.cert.PEM)
}

// Close stops the venue: no new connection, every connection reset, and
// it returns once every goroutine the venue started has returned. It is
// idempotent. It waits for every behaviour, so a behaviour (Func, OnMessage) must
// not call it, but start it on a goroutine of its own: go srv.Close().
func (s *Server) Close() {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.gate.Close()
		ln := s.ln
		s.ln = nil
		s.mu.Unlock()
		s.cancel()
		if ln != nil {
			_ = ln.Close()
		}
		s.ResetAll()
		s.accepting.Wait()
		s.running.Wait()
		s.notify()
	})
}

// ErrClosed is returned by Up and Restart after Close.
var ErrClosed = errors.New("tcpconntest: server closed")

// Down makes the venue unreachable: it stops listening (in memory, dials
// are refused) and resets every connection. Up undoes it.
func (s *Server) Down() {
	s.mu.Lock()
	s.gate.Down()
	ln := s.ln
	s.ln = nil
	s.mu.Unlock()
	if ln != nil {
		_ = ln.Close()
	}
	s.ResetAll()
}

// Up makes the venue reachable again after Down: over TCP it listens on
// the same address, which fails if something else took the port
// meanwhile. Up on a venue that is up does nothing.
func (s *Server) Up() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gate.Up(ErrClosed, func() error {
		if s.mem {
			return nil
		}
		return s.listen()
	})
}

// Restart is a venue restart: Down, then Up at once. Every connection is
// reset and the address answers again.
func (s *Server) Restart() error {
	s.Down()
	return s.Up()
}

func (s *Server) isDown() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.gate.Shut()
}

// ResetAll drops every open connection at once: over TCP with a RST, in
// memory by closing the pipe. Later connections are not affected.
func (s *Server) ResetAll() {
	for _, c := range s.Conns() {
		c.Reset()
	}
}

// CloseAll closes every open connection (a FIN; over TLS after a
// close_notify) and returns once each has ended. It waits for the connection a behaviour (Func, OnMessage) runs on too,
// so a behaviour must not call it, but start it on a goroutine of its
// own: go srv.CloseAll().
func (s *Server) CloseAll() {
	for _, c := range s.Conns() {
		_ = c.Close()
		<-c.Done()
	}
}

// Blackhole makes every connection, open and future, a black hole while
// on is true: what the client writes is read and dropped, what the venue
// writes vanishes, and nothing is closed. That is a half-open peer.
func (s *Server) Blackhole(on bool) { s.hole.Store(on) }

// AnswerPings turns the replies of every AnswerPing behaviour on or off
// (on by default): while off, pings are still taken and never answered,
// so a client's heartbeat times out while other behaviours go on.
func (s *Server) AnswerPings(on bool) { s.mute.Store(!on) }

// Next makes the next connection that no Script plan covers play b; calls
// queue up, one plan per connection.
func (s *Server) Next(b ...Behavior) { s.plans.Next(b) }

// SetDefault changes what connections do when nothing else decides, from
// the next connection on; open connections keep theirs.
func (s *Server) SetDefault(b ...Behavior) { s.plans.SetDefault(b) }

// Conns returns the open connections, in the order they were made, for
// acting on one of them on cue.
func (s *Server) Conns() []*Conn { return s.reg.Live() }

// Connections returns what the venue recorded of every connection so far,
// in order (see WithoutRecording).
func (s *Server) Connections() []Connection { return s.reg.Records() }

// Connection returns the record of the n-th connection (from 1).
func (s *Server) Connection(n int) (Connection, bool) { return s.reg.Record(n) }

// Stats returns the venue's counters.
func (s *Server) Stats() Stats { return Stats(s.stats.Load()) }

// Await waits until cond returns true, checking it now and after each
// change the venue records (a connection made or ended, a frame), and
// returns nil, or ctx's cause if ctx ends first. cond may call the
// Server's methods. Over TCP it is the way to wait without polling; under
// synctest, synctest.Wait often does the same. A nil cond is an error.
func (s *Server) Await(ctx context.Context, cond func() bool) error {
	if cond == nil {
		return errors.New("tcpconntest: Await: nil cond")
	}
	return s.changes.Await(ctx, cond)
}

func (s *Server) notify() { s.changes.Notify() }
