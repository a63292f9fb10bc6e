package tcpconntest_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"testing/synctest"
	"time"

	"github.com/connfsm/connfsm/tcpconn/framing"
	"github.com/connfsm/connfsm/tcpconn/tcpconntest"
)

// A venue in memory that answers heartbeats and echoes the rest, dialed
// and read with a line framer, and what it recorded.
func Example() {
	srv := tcpconntest.NewServer(tcpconntest.Default(tcpconntest.AnswerPing("ping", "pong"), tcpconntest.Echo()))
	defer srv.Close()
	conn, err := srv.DialContext(context.Background(), "tcp", srv.Addr)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	f, r := framing.Line{}, bufio.NewReader(conn)
	for _, m := range []string{"ping", "hello"} {
		_ = f.WriteFrame(conn, []byte(m))
		reply, _ := f.ReadFrame(r, 1024)
		fmt.Printf("%s → %s\n", m, reply)
	}
	rec, _ := srv.Connection(1)
	fmt.Println("received:", rec.ReceivedText())
	// Output:
	// ping → pong
	// hello → hello
	// received: [ping hello]
}

// TestExampleRestart is the package's way of testing a client's
// reconnect: in a synctest bubble, the venue restarts under a connection
// after a minute of virtual time, and the next dial meets it again.
func TestExampleRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := tcpconntest.NewServer()
		defer srv.Close()
		conn, err := srv.DialContext(t.Context(), "tcp", srv.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		time.Sleep(time.Minute) // virtual
		if err := srv.Restart(); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Read(make([]byte, 1)); err == nil {
			t.Error("the old connection outlived the restart")
		}
		again, err := srv.DialContext(t.Context(), "tcp", srv.Addr)
		if err != nil {
			t.Fatalf("dial after the restart: %v", err)
		}
		defer again.Close()
		if got := srv.Stats().Accepted; got != 2 {
			t.Errorf("accepted %d, want 2", got)
		}
	})
}

// A TLS venue, trusted through a CA file as a client's -ca-file would.
func ExampleNewTLSServer() {
	srv, err := tcpconntest.NewTLSServer("")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer srv.Close()
	dir, err := os.MkdirTemp("", "venue")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)
	caFile := filepath.Join(dir, "ca.pem")
	_ = os.WriteFile(caFile, srv.CAPEM(), 0o600)

	pem, _ := os.ReadFile(caFile)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	conn, err := tls.Dial("tcp", srv.Addr, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer conn.Close()
	f := framing.Line{}
	_ = f.WriteFrame(conn, []byte("hello over TLS"))
	reply, err := f.ReadFrame(bufio.NewReader(conn), 1024)
	fmt.Printf("%s %v\n", reply, err)
	// Output: hello over TLS <nil>
}
