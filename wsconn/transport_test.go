package wsconn

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/session/transport"
	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

func gzipped(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w := gzip.NewWriter(&b)
	_, _ = w.Write([]byte(s))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func deflated(t *testing.T, s string) []byte {
	t.Helper()
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.DefaultCompression)
	_, _ = w.Write([]byte(s))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestDecompression: HTX sends gzip, OKX's older API raw deflate, as
// binary messages. Decoded before anything sees them: the venue's JSON
// ping is answered, the data reaches the handler as text; a payload that
// does not decode is handed over as read, and counted.
func TestDecompression(t *testing.T) {
	tests := []struct {
		name string
		d    Decompression
		enc  func(*testing.T, string) []byte
	}{
		{"gzip", Gzip, gzipped},
		{"deflate", Deflate, deflated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				var mu sync.Mutex
				var pongs []string
				srv := startServer(t, wsconntest.Default(
					wsconntest.OnMessage(func(_ *wsconntest.Conn, m wsconntest.Message) bool {
						mu.Lock()
						pongs = append(pongs, string(m.Data))
						mu.Unlock()
						return true
					}),
					wsconntest.Func(func(ctx context.Context, c *wsconntest.Conn) {
						_ = c.Send(ctx, wsconntest.Binary(tt.enc(t, `{"ping":42}`)))
						_ = c.Send(ctx, wsconntest.Binary(tt.enc(t, `{"trade":1}`)))
						_ = c.Send(ctx, wsconntest.Binary([]byte{0xff, 0xfe, 0xfd}))
					})))
				var rec recorder
				var got []Message
				c := dialTest(t, srv, &rec, WithDecompression(tt.d),
					WithPingResponder(func(m Message) ([]byte, bool) {
						var p struct{ Ping *json.RawMessage }
						if m.Type != Text || json.Unmarshal(m.Data, &p) != nil || p.Ping == nil {
							return nil, false
						}
						return []byte(`{"pong":` + string(*p.Ping) + `}`), true
					}),
					OnMessage(func(_ context.Context, m Message) {
						mu.Lock()
						got = append(got, Message{Type: m.Type, Data: m.Data})
						mu.Unlock()
					}))
				time.Sleep(time.Second)
				synctest.Wait()
				mu.Lock()
				defer mu.Unlock()
				want := []Message{{Type: Text, Data: []byte(`{"trade":1}`)}, {Type: Binary, Data: []byte{0xff, 0xfe, 0xfd}}}
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("messages handled (-want +got):\n%s", diff)
				}
				if diff := cmp.Diff([]string{`{"pong":42}`}, pongs); diff != "" {
					t.Errorf("answers the venue got (-want +got):\n%s", diff)
				}
				if st := c.Stats(); st.Undecoded != 1 {
					t.Errorf("Stats.Undecoded = %d, want 1", st.Undecoded)
				}
			})
		})
	}
}

// TestDecompressionBomb: a payload that decodes past the read limit ends
// the connection with ErrMessageTooBig, and counts once in Stats.TooBig,
// as a message over the limit on the wire does.
func TestDecompressionBomb(t *testing.T) {
	tests := []struct {
		name    string
		payload func(t *testing.T) []byte
	}{
		{"over the limit on the wire", func(*testing.T) []byte { return make([]byte, 128<<10) }},
		{"over the limit once decoded", func(t *testing.T) []byte { return gzipped(t, string(make([]byte, 1<<20))) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				payload := tt.payload(t)
				srv := startServer(t, wsconntest.Default(wsconntest.Discard(),
					wsconntest.Func(func(ctx context.Context, c *wsconntest.Conn) { _ = c.Send(ctx, wsconntest.Binary(payload)) })))
				var rec recorder
				c := dialTest(t, srv, &rec, WithDecompression(Gzip), WithReadLimit(64<<10),
					WithRetryPolicy(func(Failure) Decision { return Decision{GiveUp: true} }))
				<-c.Done()
				if err := c.Err(); !errors.Is(err, ErrMessageTooBig) {
					t.Errorf("Err = %v, want ErrMessageTooBig", err)
				}
				if got := c.Stats().TooBig; got != 1 {
					t.Errorf("Stats.TooBig = %d, want 1 (one connection lost)", got)
				}
			})
		})
	}
}

// connectProxy is an HTTP CONNECT proxy on loopback that records the
// Proxy-Authorization of each CONNECT.
type connectProxy struct {
	ln    net.Listener
	mu    sync.Mutex
	auths []string
	wg    sync.WaitGroup
}

func startProxy(t *testing.T) *connectProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &connectProxy{ln: ln}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() { defer p.wg.Done(); p.serve(conn) }()
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); p.wg.Wait() })
	return p
}

func (p *connectProxy) serve(conn net.Conn) {
	defer conn.Close()
	br := bufio.NewReader(conn)
	req, err := http.ReadRequest(br)
	if err != nil || req.Method != http.MethodConnect {
		return
	}
	p.mu.Lock()
	p.auths = append(p.auths, req.Header.Get("Proxy-Authorization"))
	p.mu.Unlock()
	up, err := net.Dial("tcp", req.Host)
	if err != nil {
		_, _ = io.WriteString(conn, "HTTP/1.1 502 Bad Gateway\r\n\r\n")
		return
	}
	defer up.Close()
	_, _ = io.WriteString(conn, "HTTP/1.1 200 OK\r\n\r\n")
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(up, br); done <- struct{}{} }()
	go func() { _, _ = io.Copy(conn, up); done <- struct{}{} }()
	<-done
}

// TestTLSConfigAndProxy: a venue with a self-signed certificate is trusted
// through WithTLSConfig, reached through an HTTP CONNECT proxy with
// WithProxy (its userinfo sent as Proxy-Authorization), and the client
// keeps its own transport: the session holds its socket.
func TestTLSConfigAndProxy(t *testing.T) {
	srv, err := wsconntest.NewTLSServer("", wsconntest.Default(wsconntest.Echo()))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	roots := srv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	proxy := startProxy(t)
	pu := &url.URL{Scheme: "http", User: url.UserPassword("me", "s3cret"), Host: proxy.ln.Addr().String()}

	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, srv.URL, WithTLSConfig(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}), WithProxy(pu))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close(context.Background())
	proxy.mu.Lock()
	auths := proxy.auths
	proxy.mu.Unlock()
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("me:s3cret"))
	if diff := cmp.Diff([]string{want}, auths); diff != "" {
		t.Errorf("CONNECTs the proxy saw (-want +got):\n%s", diff)
	}

	// Without the venue's CA the certificate is refused, permanently.
	_, err = Dial(ctx, srv.URL, WithProxy(pu))
	var gu *GaveUpError
	if !errors.As(err, &gu) {
		t.Errorf("Dial without the CA = %v, want a *GaveUpError", err)
	}
	tr := newTransport(srv.URL).own()
	tr.tlsConfig, tr.proxy, tr.proxySet = &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, pu, true
	if !socketKept(t, tr) {
		t.Errorf("the connection does not hold its socket: the client's own transport was not kept")
	}
}

// socketKept dials tr once and reports whether the connection holds its
// socket, which it closes to abort at once.
func socketKept(t *testing.T, tr *wsTransport) bool {
	t.Helper()
	if err := tr.Check(); err != nil {
		t.Fatal(err)
	}
	cn, err := tr.Dial(t.Context(), &transport.Attempt{ReadLimit: 1 << 20})
	if err != nil {
		t.Fatalf("transport Dial: %v", err)
	}
	defer cn.CloseNow()
	return cn.(*conn).raw != nil
}

func TestTransportConfig(t *testing.T) {
	tests := []struct {
		name string
		opts []Option
		want string
	}{
		{"proxy scheme", []Option{WithProxy(&url.URL{Scheme: "ftp", Host: "p:21"})}, `WithProxy "ftp://p:21": scheme must be http, https, socks5 or socks5h, got "ftp"`},
		{"nil TLS", []Option{WithTLSConfig(nil)}, "TLSConfig: nil"},
		{"TLS and HTTP client", []Option{WithTLSConfig(&tls.Config{}), WithHTTPClient(http.DefaultClient)}, "TLSConfig and HTTPClient: set TLS on the HTTP client's transport"},
		{"decompression", []Option{WithDecompression(7)}, "Decompression 7 is not known"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Dial(t.Context(), "ws://feed.test/", append(tt.opts, NoWait())...)
			var ce *ConfigError
			if !errors.As(err, &ce) || len(ce.Problems) != 1 {
				t.Fatalf("Dial = %v, want a *ConfigError with one problem", err)
			}
			if diff := cmp.Diff(tt.want, ce.Problems[0].Error()); diff != "" {
				t.Errorf("problem (-want +got):\n%s", diff)
			}
		})
	}
}

// TestProxyPlainWebSocket: a ws:// venue through an HTTP proxy goes
// through a CONNECT tunnel too: net/http would send it to the proxy as a
// plain request, which a proxy does not upgrade.
func TestProxyPlainWebSocket(t *testing.T) {
	srv, err := wsconntest.NewTCPServer("", wsconntest.Default(wsconntest.Echo()))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	proxy := startProxy(t)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, srv.URL, WithProxy(&url.URL{Scheme: "http", Host: proxy.ln.Addr().String()}))
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close(context.Background())
	proxy.mu.Lock()
	n := len(proxy.auths)
	proxy.mu.Unlock()
	if n != 1 {
		t.Errorf("the proxy saw %d CONNECTs, want 1", n)
	}
	tr := newTransport(srv.URL).own()
	tr.proxy, tr.proxySet = &url.URL{Scheme: "http", Host: proxy.ln.Addr().String()}, true
	if !socketKept(t, tr) {
		t.Errorf("the connection does not hold its socket")
	}
}

// TestURLUserinfo: the URL's userinfo reaches the venue as Authorization
// Basic, as WithProxy's doc says.
func TestURLUserinfo(t *testing.T) {
	auth := make(chan string, 1)
	srv, err := wsconntest.NewTCPServer("", wsconntest.Default(wsconntest.Func(func(_ context.Context, c *wsconntest.Conn) {
		auth <- c.Request().Header.Get("Authorization")
	})))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	u.User = url.UserPassword("me", "s3cret")
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	c, err := Dial(ctx, u.String())
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	defer c.Close(context.Background())
	want := "Basic " + base64.StdEncoding.EncodeToString([]byte("me:s3cret"))
	if got := <-auth; got != want {
		t.Errorf("Authorization = %q, want %q", got, want)
	}
}
