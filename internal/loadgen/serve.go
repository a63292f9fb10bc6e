package loadgen

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/connfsm/connfsm/tcpconn/tcpconntest"
)

// Serve runs the echo venue (NewVenue) on addr as `connfsm serve` does.
// It prints the venue's WebSocket URL to stdout and, unless control is
// "", "control: " and the URL of its control endpoint (Control). Unless
// tcp is "", it also runs a line echo server there (tcpconntest's) and
// prints its tcp:// URL. It serves until ctx ends or, if stdin is not
// nil, until stdin ends (a parent process that dies takes its server with
// it); then it prints what each server served to stderr.
func Serve(ctx context.Context, addr, control, tcp string, stdin io.Reader, stdout, stderr io.Writer) error {
	srv, err := NewVenue(addr)
	if err != nil {
		return err
	}
	defer srv.Close()
	fmt.Fprintln(stdout, srv.URL+"/")
	var ts *tcpconntest.Server
	if tcp != "" {
		// A line echo server for tcpconn's clients (connfsm dial tcp://), which answers "ping" with "pong".
		ts, err = tcpconntest.NewTCPServer(tcp, tcpconntest.Default(tcpconntest.AnswerPing("ping", "pong"), tcpconntest.Echo()), tcpconntest.WithoutRecording())
		if err != nil {
			return fmt.Errorf("tcp: %w", err)
		}
		defer ts.Close()
		fmt.Fprintln(stdout, ts.URL)
	}

	if control != "" {
		ln, err := net.Listen("tcp", control)
		if err != nil {
			return fmt.Errorf("control: %w", err)
		}
		hs := &http.Server{Handler: Control(srv), ReadHeaderTimeout: 10 * time.Second}
		served := make(chan struct{})
		go func() {
			defer close(served)
			_ = hs.Serve(ln)
		}()
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if err := hs.Shutdown(sctx); err != nil {
				_ = hs.Close()
			}
			<-served
		}()
		fmt.Fprintf(stdout, "control: http://%s/\n", ln.Addr())
	}

	var eof <-chan struct{}
	if stdin != nil {
		ch := make(chan struct{})
		go func() {
			defer close(ch)
			_, _ = io.Copy(io.Discard, stdin)
		}()
		eof = ch
	}
	select {
	case <-ctx.Done():
	case <-eof:
	}
	st := Stats(srv)
	fmt.Fprintf(stderr, "connfsm serve: stopping: accepted %d, echoed %d, open %d", st.Accepted, st.Echoed, st.Open)
	if ts != nil {
		ts := ts.Stats()
		fmt.Fprintf(stderr, "; tcp: accepted %d, frames received %d, sent %d, open %d", ts.Accepted, ts.Received, ts.Sent, ts.Open)
	}
	fmt.Fprintln(stderr)
	return nil
}
