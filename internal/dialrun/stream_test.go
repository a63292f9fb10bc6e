package dialrun

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/tcpconn/framing"
	"github.com/connfsm/connfsm/tcpconn/tcpconntest"
)

// TestDialStream runs dial against a framed TCP venue on loopback, each
// framing: stdin lines go out as frames, the echoes come back to stdout,
// and the application heartbeat (-ping-text, -pong-text) is answered.
func TestDialStream(t *testing.T) {
	for _, f := range []framing.Framer{framing.Line{}, framing.Length32{}} {
		t.Run(f.Name(), func(t *testing.T) {
			srv, err := tcpconntest.NewTCPServer("127.0.0.1:0", tcpconntest.Framing(f),
				tcpconntest.Default(tcpconntest.AnswerPing("ping", "pong"), tcpconntest.Echo()))
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			cfg := config(srv.URL, func(c *Config, _ *WebSocket) {
				c.Ping, c.PongTimeout, c.PingText, c.PongText = 50*time.Millisecond, time.Second, "ping", "pong"
			})
			cfg.Dial = Stream{URL: srv.URL, Framing: f}.Dial
			in, typed := io.Pipe()
			t.Cleanup(func() { _ = typed.Close() })
			var stdout, stderr syncBuffer
			wait, _ := runAsync(t, cfg, in, &stdout, &stderr)
			for _, l := range []string{"one", "two"} {
				if _, err := io.WriteString(typed, l+"\n"); err != nil {
					t.Fatal(err)
				}
			}
			waitFor(t, "both echoes", func() bool { return stdout.String() == "one\ntwo\n" })
			waitFor(t, "a heartbeat answered", func() bool {
				c, ok := srv.Connection(1)
				return ok && strings.Contains(strings.Join(c.ReceivedText(), " "), "ping")
			})
			_ = typed.Close()
			if code := wait(); code != ExitOK {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, ExitOK, stderr.String())
			}
			if diff := cmp.Diff("one\ntwo\n", stdout.String()); diff != "" {
				t.Errorf("stdout (-want +got):\n%s", diff)
			}
			if !strings.Contains(stderr.String(), "reconnects 0") {
				t.Errorf("stderr:\n%s\nwant no reconnect", stderr.String())
			}
		})
	}
}
