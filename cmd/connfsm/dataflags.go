package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/connfsm/connfsm/wsconn"
)

// dial's data-path and transport flags: a login awaited in Syncing, the
// venue's JSON pings answered, message sizes, decompression, TLS roots, a
// proxy, the slow-consumer policy.

// dataFlags are their values.
type dataFlags struct {
	login, loginAck string
	loginTimeout    time.Duration
	answerPing      string
	readLimit       sizeFlag
	writeLimit      sizeFlag
	decompress      string
	caFile          string
	proxy           string
	slowConsumer    string
	inbox           int

	// Made by check from the values above.
	roots    *x509.CertPool
	proxyURL *url.URL
	policy   wsconn.SlowConsumerPolicy
	dec      wsconn.Decompression
	req, rep string // -answer-ping's keys
}

// defaultLoginTimeout is -login-timeout's default.
const defaultLoginTimeout = 10 * time.Second

func (d *dataFlags) register(fs *flag.FlagSet) {
	d.readLimit, d.writeLimit = wsconn.DefaultReadLimit, wsconn.DefaultWriteLimit
	fs.StringVar(&d.login, "login", "", "a `text` message sent first on every connection, before -subscribe's")
	fs.StringVar(&d.loginAck, "login-ack", "", "wait in Syncing for a message containing this `text` after -login; without it within -login-timeout the connection is dropped and redialled")
	fs.DurationVar(&d.loginTimeout, "login-timeout", defaultLoginTimeout, "how long to wait for -login-ack")
	fs.StringVar(&d.answerPing, "answer-ping", "", "answer the venue's JSON pings: a message whose key `REQ:REPLY` REQ holds a value is answered {\"REPLY\": value}, e.g. ping:pong")
	fs.Var(&d.readLimit, "read-limit", "the largest message accepted, e.g. 4MiB; a larger one loses the connection, and the redial slows down")
	fs.Var(&d.writeLimit, "write-limit", "the largest message sent, e.g. 1MiB; a longer stdin line is reported, not sent")
	fs.StringVar(&d.decompress, "decompress", "", "decode binary payloads: `gzip` or deflate (raw), before anything sees them")
	fs.StringVar(&d.caFile, "ca-file", "", "trust the PEM certificates in this `file` for wss:// (instead of the system's roots)")
	fs.StringVar(&d.proxy, "proxy", "", "dial through this proxy `URL`: http:// or https:// (HTTP CONNECT; userinfo sent as Proxy-Authorization), or socks5://")
	fs.StringVar(&d.slowConsumer, "slow-consumer", "block", "what to do when stdout cannot keep up: block, drop-oldest, drop-newest, conflate or disconnect")
	fs.IntVar(&d.inbox, "inbox", 0, "messages kept waiting for stdout under a -slow-consumer other than block")
}

// check checks the values and prepares what the options need. Its error
// is a *wsconn.ConfigError naming each bad flag; bad are the flags whose
// value the parser refused already.
func (d *dataFlags) check(bad map[string]bool) error {
	var p []error
	add := func(name, format string, args ...any) {
		if !bad[name] {
			p = append(p, fmt.Errorf("-"+name+": "+format, args...))
		}
	}
	if d.loginAck != "" && d.login == "" {
		add("login-ack", "needs -login: the message it acknowledges")
	}
	if d.readLimit <= 0 {
		add("read-limit", "must be positive, got %d", d.readLimit)
	}
	if d.writeLimit <= 0 {
		add("write-limit", "must be positive, got %d", d.writeLimit)
	}
	if d.loginTimeout <= 0 {
		add("login-timeout", "must be positive, got %v", d.loginTimeout)
	}
	if d.answerPing != "" {
		req, rep, ok := strings.Cut(d.answerPing, ":")
		if !ok || req == "" || rep == "" {
			add("answer-ping", "want REQ:REPLY, e.g. ping:pong, got %q", d.answerPing)
		}
		d.req, d.rep = req, rep
	}
	switch d.decompress {
	case "":
	case "gzip":
		d.dec = wsconn.Gzip
	case "deflate":
		d.dec = wsconn.Deflate
	default:
		add("decompress", "want gzip or deflate, got %q", d.decompress)
	}
	if d.caFile != "" {
		if pem, err := os.ReadFile(d.caFile); err != nil {
			add("ca-file", "%v", err)
		} else if pool := x509.NewCertPool(); !pool.AppendCertsFromPEM(pem) {
			add("ca-file", "%s holds no PEM certificate", d.caFile)
		} else {
			d.roots = pool
		}
	}
	if d.proxy != "" {
		u, err := url.Parse(d.proxy)
		switch {
		case err != nil:
			add("proxy", "%v", err)
		case u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "socks5" && u.Scheme != "socks5h":
			add("proxy", "scheme must be http, https, socks5 or socks5h, got %q", u.Scheme)
		case u.Host == "":
			add("proxy", "no host in %q", u.Redacted())
		default:
			d.proxyURL = u
		}
	}
	pol, err := wsconn.ParseSlowConsumerPolicy(d.slowConsumer)
	if err != nil {
		add("slow-consumer", "%v", err)
	}
	d.policy = pol
	switch {
	case d.inbox < 0:
		add("inbox", "must not be negative, got %d", d.inbox)
	case err == nil && pol != wsconn.Block && d.inbox == 0:
		add("inbox", "must be positive with -slow-consumer %s", pol)
	}
	if len(p) == 0 {
		return nil
	}
	return &wsconn.ConfigError{Problems: p}
}

// options returns the wsconn options the flags ask for.
func (d *dataFlags) options() []wsconn.Option {
	opts := []wsconn.Option{
		wsconn.WithReadLimit(int64(d.readLimit)),
		wsconn.WithWriteLimit(int64(d.writeLimit)),
	}
	if d.login != "" {
		opts = append(opts, wsconn.OnConnect(d.loginHook()))
	}
	if d.req != "" {
		opts = append(opts, wsconn.WithPingResponder(jsonPingResponder(d.req, d.rep)))
	}
	if d.dec != wsconn.NoDecompression {
		opts = append(opts, wsconn.WithDecompression(d.dec))
	}
	if d.roots != nil {
		opts = append(opts, wsconn.WithTLSConfig(&tls.Config{RootCAs: d.roots, MinVersion: tls.VersionTLS12}))
	}
	if d.proxyURL != nil {
		opts = append(opts, wsconn.WithProxy(d.proxyURL))
	}
	if d.policy != wsconn.Block {
		opts = append(opts, wsconn.WithSlowConsumer(wsconn.SlowConsumer{Policy: d.policy, Inbox: d.inbox, Key: streamKey()}))
	}
	return opts
}

// errLogin is wrapped by the cause of a connection dropped because the
// login's ack did not come.
var errLogin = errors.New("login")

// loginHook sends -login first on every connection and, with -login-ack,
// waits for a message containing it; without it in time the hook fails,
// and the connection is Lost with a cause naming the login.
func (d *dataFlags) loginHook() func(context.Context, *wsconn.Session) error {
	login, ack, timeout := d.login, []byte(d.loginAck), d.loginTimeout
	return func(ctx context.Context, s *wsconn.Session) error {
		if len(ack) == 0 {
			if err := s.SendText(ctx, login); err != nil {
				return fmt.Errorf("%w: send: %w", errLogin, err)
			}
			return nil
		}
		rctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		_, err := s.Request(rctx, wsconn.Text, []byte(login), func(m wsconn.Message) bool { return bytes.Contains(m.Data, ack) })
		switch {
		case err == nil:
			return nil
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			return fmt.Errorf("%w: no ack within %v (a message containing %s)", errLogin, timeout, ack)
		}
		return fmt.Errorf("%w: %w", errLogin, err)
	}
}

// jsonPingResponder answers a JSON object holding key req with
// {"rep": its value}: HTX's {"ping":n} and {"pong":n}.
func jsonPingResponder(req, rep string) func(wsconn.Message) ([]byte, bool) {
	return func(m wsconn.Message) ([]byte, bool) {
		if m.Type != wsconn.Text || len(m.Data) == 0 || m.Data[0] != '{' || !bytes.Contains(m.Data, []byte(strconv.Quote(req))) {
			return nil, false // cheap: most messages are not pings
		}
		var obj map[string]json.RawMessage
		if json.Unmarshal(m.Data, &obj) != nil {
			return nil, false
		}
		v, ok := obj[req]
		if !ok {
			return nil, false
		}
		out, err := json.Marshal(map[string]json.RawMessage{rep: v})
		return out, err == nil
	}
}

// streamKey is -slow-consumer conflate's key: the raw value of a JSON
// message's first top-level field among stream, channel, topic, arg and
// symbol; a message without one is a stream of its own, never conflated.
func streamKey() func(wsconn.Message) string {
	var n atomic.Uint64
	return func(m wsconn.Message) string {
		var obj map[string]json.RawMessage
		if m.Type == wsconn.Text && json.Unmarshal(m.Data, &obj) == nil {
			for _, f := range []string{"stream", "channel", "topic", "arg", "symbol"} {
				if v, ok := obj[f]; ok {
					return f + "=" + string(v)
				}
			}
		}
		return "\x00" + strconv.FormatUint(n.Add(1), 10)
	}
}

// sizeFlag is a byte size: 1048576, 512KiB, 4MiB, 1GiB (also KB, MB, GB as
// powers of 1000). dataFlags.check refuses sizes that are not positive.
type sizeFlag int64

func (s *sizeFlag) String() string { return strconv.FormatInt(int64(*s), 10) }

func (s *sizeFlag) Set(v string) error {
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"B", 1}}
	num, mult := strings.TrimSpace(v), int64(1)
	for _, u := range units {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	switch {
	case err != nil:
		return fmt.Errorf("%q is not a size (e.g. 1048576, 512KiB, 4MiB)", v)
	case n > (1<<62)/mult || n < -(1<<62)/mult:
		return fmt.Errorf("size %q is too large", v)
	}
	*s = sizeFlag(n * mult)
	return nil
}
