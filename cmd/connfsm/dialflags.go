package main

import (
	"errors"
	"flag"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/connfsm/connfsm/internal/dialrun"
	"github.com/connfsm/connfsm/tcpconn/framing"
	"github.com/connfsm/connfsm/wsconn"
)

// registerData registers dial's data-path and transport flags: a login
// awaited in Syncing, the venue's JSON pings answered, subscription acks,
// message sizes, decompression, TLS roots, a proxy, the slow-consumer
// policy.
func (cfg *dialConfig) registerData(fs *flag.FlagSet) {
	r := &cfg.run
	cfg.readLimit, cfg.writeLimit = wsconn.DefaultReadLimit, wsconn.DefaultWriteLimit
	fs.StringVar(&r.Login, "login", "", "a `text` message sent first on every connection, before -subscribe's")
	fs.StringVar(&r.LoginAck, "login-ack", "", "wait in Syncing for a message containing this `text` after -login; without it within -login-timeout the connection is dropped and redialled")
	fs.DurationVar(&r.LoginTimeout, "login-timeout", defaultLoginTimeout, "how long to wait for -login-ack")
	fs.StringVar(&cfg.answerPing, "answer-ping", "", "answer the venue's JSON pings, given as `REQ:REPLY`: an object whose key REQ holds a value is answered {\"REPLY\": value}, e.g. ping:pong")
	fs.Var(&cfg.readLimit, "read-limit", "the largest message accepted, e.g. 4MiB; a larger one loses the connection, and the redial slows down")
	fs.Var(&cfg.writeLimit, "write-limit", "the largest message sent, e.g. 1MiB; a longer stdin line is reported, not sent")
	fs.StringVar(&cfg.decompress, "decompress", "", "decode binary payloads: `gzip` or deflate (raw), before anything sees them")
	fs.StringVar(&cfg.caFile, "ca-file", "", "trust the PEM certificates in this `file` for wss:// and tls:// (instead of the system's roots)")
	fs.StringVar(&cfg.framing, "framing", "line", "how a tcp:// or tls:// stream is cut into messages: `line` or length32")
	fs.StringVar(&cfg.proxy, "proxy", "", "dial through this proxy `URL`: http:// or https:// (HTTP CONNECT; userinfo sent as Proxy-Authorization), or socks5:// or socks5h://")
	fs.StringVar(&cfg.slowConsumer, "slow-consumer", "block", "what to do when stdout cannot keep up: block, drop-oldest, drop-newest, conflate or disconnect")
	fs.IntVar(&r.Inbox, "inbox", 0, "messages kept waiting for stdout under a -slow-consumer other than block")
	fs.StringVar(&r.SubscribeAck, "subscribe-ack", "", "a message containing this `text` acknowledges the oldest -subscribe not yet answered (it is then Active; without it, a subscription is Active once sent)")
	fs.StringVar(&r.SubscribeNack, "subscribe-nack", "", "a message containing this `text` refuses the oldest -subscribe not yet answered: it is Failed, and not sent again (needs -subscribe-ack)")
	fs.DurationVar(&r.AckTimeout, "ack-timeout", wsconn.DefaultAckTimeout, "how long a -subscribe waits for -subscribe-ack before it is Failed; the connection stays")
}

// checkData checks the values of registerData's flags and converts them.
// Its error is a *wsconn.ConfigError naming each bad flag; bad are the
// flags whose value the parser refused already.
func (cfg *dialConfig) checkData(bad map[string]bool) error {
	var p []error
	add := func(name, format string, args ...any) {
		if !bad[name] {
			p = append(p, fmt.Errorf("-"+name+": "+format, args...))
		}
	}
	r := &cfg.run
	if r.LoginAck != "" && r.Login == "" {
		add("login-ack", "needs -login: the message it acknowledges")
	}
	r.ReadLimit, r.WriteLimit = int64(cfg.readLimit), int64(cfg.writeLimit)
	if r.ReadLimit <= 0 {
		add("read-limit", "must be positive, got %d", r.ReadLimit)
	}
	if r.WriteLimit <= 0 {
		add("write-limit", "must be positive, got %d", r.WriteLimit)
	}
	if r.LoginTimeout <= 0 {
		add("login-timeout", "must be positive, got %v", r.LoginTimeout)
	}
	if cfg.answerPing != "" {
		req, rep, ok := strings.Cut(cfg.answerPing, ":")
		if !ok || req == "" || rep == "" {
			add("answer-ping", "want REQ:REPLY, e.g. ping:pong, got %q", cfg.answerPing)
		}
		r.PingRequest, r.PingReply = req, rep
	}
	var err error
	if cfg.framer, err = framing.Parse(cfg.framing); err != nil {
		add("framing", "%v", err)
	}
	if cfg.ws.Decompression, err = dialrun.ParseDecompression(cfg.decompress); err != nil {
		add("decompress", "%v", err)
	}
	if cfg.caFile != "" {
		if cfg.ws.Roots, err = dialrun.LoadRoots(cfg.caFile); err != nil {
			add("ca-file", "%v", err)
		}
	}
	if cfg.proxy != "" {
		if cfg.ws.Proxy, err = dialrun.ParseProxy(cfg.proxy); err != nil {
			add("proxy", "%v", err)
		}
	}
	pol, err := wsconn.ParseSlowConsumerPolicy(cfg.slowConsumer)
	if err != nil {
		add("slow-consumer", "%v", err)
	}
	r.SlowConsumer = pol
	switch {
	case r.Inbox < 0:
		add("inbox", "must not be negative, got %d", r.Inbox)
	case err == nil && pol != wsconn.Block && r.Inbox == 0:
		add("inbox", "must be positive with -slow-consumer %s", pol)
	}
	if len(p) == 0 {
		return nil
	}
	return &wsconn.ConfigError{Problems: p}
}

// headerFlag is a repeatable -header 'Name: value'. Set refuses what
// net/http would refuse to send, so a bad header is a usage error rather
// than a handshake failing on every attempt.
type headerFlag http.Header

func (h headerFlag) String() string {
	var b strings.Builder
	for k, vs := range h {
		for _, v := range vs {
			fmt.Fprintf(&b, "%s: %s; ", k, v)
		}
	}
	return strings.TrimSuffix(b.String(), "; ")
}

func (h headerFlag) Set(s string) error { return dialrun.AddHeader(http.Header(h), s) }

// stringsFlag is the repeatable -subprotocol. Each must be an HTTP token,
// as RFC 6455 §4.1 requires: net/http refuses to send others.
type stringsFlag []string

func (s *stringsFlag) String() string { return strings.Join(*s, ",") }

func (s *stringsFlag) Set(v string) error {
	if !dialrun.IsToken(v) {
		return errors.New("not an HTTP token")
	}
	*s = append(*s, v)
	return nil
}

// closeCodesFlag is -permanent-close-codes: a comma-separated list of
// close codes, each from 1000 to 4999 as wsconn requires.
type closeCodesFlag []wsconn.StatusCode

func (f *closeCodesFlag) String() string {
	var s []string
	for _, c := range *f {
		s = append(s, strconv.Itoa(int(c)))
	}
	return strings.Join(s, ",")
}

func (f *closeCodesFlag) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || n < 1000 || n > 4999 {
			return fmt.Errorf("%q is not a close code (1000 to 4999)", part)
		}
		*f = append(*f, wsconn.StatusCode(n))
	}
	return nil
}

// sizeFlag is a byte size: 1048576, 512KiB, 4MiB, 1GiB (also KB, MB, GB as
// powers of 1000). checkData refuses sizes that are not positive.
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
