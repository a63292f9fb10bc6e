package tcpconntest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/tcpconn/framing"
)

// TestConnOnCue: acting on one connection leaves the others alone.
func TestConnOnCue(t *testing.T) {
	each(t, func(e env) {
		t := e.t
		srv := e.venue(Default(Discard()))
		a, b := e.dial(srv), e.dial(srv)
		e.await(srv, "two connections", func() bool { return len(srv.Conns()) == 2 })
		ca, cb := srv.Conns()[0], srv.Conns()[1]
		if ca.N() != 1 || cb.N() != 2 {
			t.Fatalf("Conns = %d, %d; want 1, 2", ca.N(), cb.N())
		}
		go func() { _ = ca.SendSplit([]byte("in three"), 3, time.Millisecond) }()
		if got := a.next(); got != "in three" {
			t.Errorf("SendSplit read as %q", got)
		}
		go func() { _ = ca.WriteRaw([]byte("raw\n")) }()
		if got := a.next(); got != "raw" {
			t.Errorf("WriteRaw read as %q", got)
		}
		cb.Blackhole(true)
		b.send("dropped")
		go func() { _ = ca.SendText("to a") }()
		if got := a.next(); got != "to a" {
			t.Errorf("a read %q while b is a black hole", got)
		}
		ca.Reset()
		if _, err := a.read(0, 0); !e.isReset(err) {
			t.Errorf("a after its reset: %v", err)
		}
		<-ca.Done()
		if srv.Stats().Open != 1 || ca.Context().Err() == nil {
			t.Errorf("after a's reset: stats %+v, a's context %v", srv.Stats(), ca.Context().Err())
		}
		r, _ := srv.Connection(2)
		if len(r.Received) != 0 || !r.Open() {
			t.Errorf("b, a black hole: %+v", r)
		}
		srv.CloseAll()
		if _, err := b.read(0, 0); err == nil {
			t.Error("b outlived CloseAll")
		}
	})
}

// TestSendUnframeable: a payload the framing cannot carry is refused,
// and neither written nor recorded.
func TestSendUnframeable(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := NewServer(Default(Discard()))
		defer srv.Close()
		e := env{tcpTransport: transports[0], t: t}
		c := e.dial(srv)
		synctest.Wait()
		err := srv.Conns()[0].SendText("two\nlines")
		if !errors.Is(err, framing.ErrPayload) {
			t.Errorf("Send = %v, want ErrPayload", err)
		}
		c.silent("an unframeable send")
		if r, _ := srv.Connection(1); len(r.Sent) != 0 || srv.Stats().Sent != 0 {
			t.Errorf("recorded %v, stats %+v", r.Sent, srv.Stats())
		}
	})
}

// TestCloseUnblocks: Close returns while the venue is blocked writing to
// a client that never reads, and while dials race with it.
func TestCloseUnblocks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := NewServer(Default(Push(time.Second, func(int) []byte { return []byte("unread") })))
		var wg sync.WaitGroup
		for range 5 {
			wg.Go(func() {
				if c, err := srv.DialContext(context.Background(), "tcp", ""); err == nil {
					defer c.Close()
					<-srv.ctx.Done()
				}
			})
		}
		time.Sleep(10 * time.Second) // every pusher blocked on its first write
		srv.Close()
		wg.Wait()
		srv.Close() // idempotent
		if st := srv.Stats(); st.Open != 0 || st.Accepted+st.Refused != 5 {
			t.Errorf("stats after Close = %+v", st)
		}
		if _, err := srv.DialContext(context.Background(), "tcp", ""); err == nil {
			t.Error("dial after Close succeeded")
		}
	})
}

func TestWithoutRecording(t *testing.T) {
	each(t, func(e env) {
		t := e.t
		srv := e.venue(WithoutRecording())
		c := e.dial(srv)
		c.send("x")
		c.next()
		if r, ok := srv.Connection(1); !ok || len(r.Received)+len(r.Sent) != 0 {
			t.Errorf("open connection's record = %+v, %v; want it, without frames", r, ok)
		}
		_ = c.c.Close()
		e.await(srv, "the end", func() bool { return srv.Stats().Open == 0 })
		if got := srv.Connections(); len(got) != 0 {
			t.Errorf("records kept: %+v", got)
		}
		if diff := cmp.Diff(Stats{Accepted: 1, Received: 1, Sent: 1}, srv.Stats()); diff != "" {
			t.Errorf("stats (-want +got):\n%s", diff)
		}
	})
}

// TestTLSTrust: a client that trusts nothing refuses the venue's
// certificate; ClientTLS and CertPool trust it.
func TestTLSTrust(t *testing.T) {
	srv, err := NewTLSServer("")
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithTimeout(t.Context(), patience)
	defer cancel()
	for _, tt := range []struct {
		name string
		conf *tls.Config
		ok   bool
	}{
		{"ClientTLS", srv.ClientTLS(), true},
		{"CertPool", &tls.Config{RootCAs: srv.CertPool(), ServerName: "localhost", MinVersion: tls.VersionTLS12}, true},
		{"untrusted", &tls.Config{RootCAs: x509.NewCertPool(), MinVersion: tls.VersionTLS12}, false},
	} {
		d := tls.Dialer{Config: tt.conf}
		c, err := d.DialContext(ctx, "tcp", srv.Addr)
		var unknown x509.UnknownAuthorityError
		if tt.ok && err != nil || !tt.ok && !errors.As(err, &unknown) {
			t.Errorf("%s: dial = %v, want ok %v", tt.name, err, tt.ok)
		}
		if c != nil {
			_ = c.Close()
		}
	}
	plain, err := NewTCPServer("")
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if plain.ClientTLS() != nil || plain.CertPool() != nil || plain.CAPEM() != nil {
		t.Error("a plain TCP venue offers TLS trust")
	}
}

func TestBehaviorString(t *testing.T) {
	got := []string{
		Behavior{}.String(), Echo().String(), After(time.Second, Reset()).String(),
		AnswerPing("ping", "pong").String(), Split(3, time.Millisecond).String(), CloseAfter(2).String(),
		Raw([]byte{0, 1}).String(), Reply(nil).String(), SubAck("sub:", nil).String(),
	}
	want := []string{
		"none", "Echo", "After(1s, Reset)",
		`AnswerPing("ping", "pong")`, "Split(3, 1ms)", "CloseAfter(2)",
		`Raw("\x00\x01")`, "none", "none",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("names (-want +got):\n%s", diff)
	}
}

// TestAfter: a behaviour started late answers only from then on; its
// count of frames starts then too. In virtual time only: the test waits
// for d.
func TestAfter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		e := env{tcpTransport: transports[0], t: t}
		d := time.Minute
		var seen []string // OnMessage runs on the reader; read after the end
		srv := e.venue(Default(
			After(d, AnswerPing("ping", "pong")),
			After(d, CloseAfter(2)),
			OnMessage(func(_ *Conn, m Message) bool { seen = append(seen, string(m.Data)); return string(m.Data) == "ping" }),
			Echo(),
		))
		c := e.dial(srv)
		c.send("ping") // taken by OnMessage, not answered yet
		c.send("a")
		if got := c.next(); got != "a" {
			t.Errorf("echo before d = %q", got)
		}
		time.Sleep(d)   // virtual
		synctest.Wait() // the After behaviours have started
		c.send("ping")
		if got := c.next(); got != "pong" {
			t.Errorf("ping after d answered %q", got)
		}
		c.send("b") // the second frame after d: echoed, then the close
		if got := c.next(); got != "b" {
			t.Errorf("echo after d = %q", got)
		}
		if _, err := c.read(0, 0); err == nil {
			t.Error("the connection outlived After(d, CloseAfter(2))")
		}
		e.await(srv, "the end", func() bool { return srv.Stats().Open == 0 })
		if diff := cmp.Diff([]string{"ping", "a", "b"}, seen); diff != "" {
			t.Errorf("OnMessage saw (-want +got):\n%s", diff)
		}
	})
}

// TestFramingNil: Framing(nil), or a Framer holding a nil pointer, keeps
// the default framing rather than one whose first read panics on the
// venue's reader.
func TestFramingNil(t *testing.T) {
	for _, f := range []framing.Framer{nil, (*framing.Line)(nil), (*framing.Length32)(nil)} {
		t.Run(fmt.Sprintf("%T", f), func(t *testing.T) {
			srv := NewServer(Framing(f))
			defer srv.Close()
			if diff := cmp.Diff(framing.Framer(framing.Line{}), srv.cfg.framer); diff != "" {
				t.Errorf("framing (-want +got):\n%s", diff)
			}
		})
	}
}
