package dialrun

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/connfsm/connfsm/session"
	"github.com/connfsm/connfsm/session/datapath"
	"github.com/connfsm/connfsm/session/retry"
	"github.com/connfsm/connfsm/session/transport"
)

// Config is a dial run: the transport, how to print, and the settings
// every transport shares. Their values are checked by Dial, which names
// the option at fault before anything starts.
type Config struct {
	// Dial starts the client (required), e.g. WebSocket{...}.Dial.
	Dial DialFunc
	// JSON prints the timeline and received messages as JSON lines.
	JSON bool
	// Linger is how long to keep printing received messages after stdin
	// ends and every line is sent.
	Linger time.Duration
	// Options are added after those built from the fields below, e.g. a
	// metrics probe.
	Options []session.Option

	Ping, PongTimeout time.Duration
	Backoff           retry.Backoff
	Buffer            int // lines kept while not connected
	// PingText and PongText are an application heartbeat (both or neither).
	PingText, PongText string
	IdleTimeout        time.Duration
	// Storm is the storm guard; a zero field turns it off.
	Storm retry.StormGuard
	// Subscribe are messages sent on every connection; SubscribeAck and
	// SubscribeNack are texts a reply containing which acknowledges or
	// refuses the oldest one unanswered.
	Subscribe                   []string
	SubscribeAck, SubscribeNack string
	AckTimeout                  time.Duration
	Rate                        session.Limiter // nil: no pacing
	// Login is sent first on every connection; with LoginAck, the
	// connection waits LoginTimeout in Syncing for a message containing it.
	Login, LoginAck string
	LoginTimeout    time.Duration
	// PingRequest and PingReply answer the venue's JSON pings: an object
	// holding PingRequest is answered {PingReply: its value}.
	PingRequest, PingReply string
	ReadLimit, WriteLimit  int64
	SlowConsumer           datapath.SlowConsumerPolicy
	Inbox                  int
}

// options returns the options of the shared settings.
func (cfg *Config) options() []session.Option {
	opts := []session.Option{
		session.NoWait(),
		session.WithHeartbeat(cfg.Ping, cfg.PongTimeout),
		session.WithBackoff(cfg.Backoff),
		session.WithSendPolicy(session.SendPolicy{Buffer: cfg.Buffer}),
		session.WithReadLimit(cfg.ReadLimit),
		session.WithWriteLimit(cfg.WriteLimit),
		session.WithAckTimeout(cfg.AckTimeout),
	}
	if cfg.PingText != "" {
		opts = append(opts, session.WithAppHeartbeat(session.TextHeartbeat(cfg.PingText, cfg.PongText)))
	}
	if cfg.IdleTimeout != 0 { // a negative one is refused by Dial
		opts = append(opts, session.WithIdleTimeout(cfg.IdleTimeout))
	}
	for _, msg := range cfg.Subscribe {
		// The message is the key: the same subscription given twice is sent once.
		opts = append(opts, session.WithSubscriptions(cfg.subscription(msg)))
	}
	if cfg.Rate != nil {
		opts = append(opts, session.WithRateLimit(cfg.Rate))
	}
	g := cfg.Storm
	if g.Attempts == 0 || g.Window == 0 || g.MinGap == 0 {
		g = retry.StormGuard{} // any of them 0: off
	}
	opts = append(opts, session.WithStormGuard(g))
	if cfg.Login != "" {
		opts = append(opts, session.OnConnect(loginHook(cfg.Login, cfg.LoginAck, cfg.LoginTimeout)))
	}
	if cfg.PingRequest != "" {
		opts = append(opts, session.WithPingResponder(jsonPingResponder(cfg.PingRequest, cfg.PingReply)))
	}
	if cfg.SlowConsumer != datapath.Block {
		opts = append(opts, session.WithSlowConsumer(datapath.SlowConsumer{Policy: cfg.SlowConsumer, Inbox: cfg.Inbox, Key: streamKey()}))
	}
	return opts
}

// subscription returns the subscription of the message msg: keyed by the
// message itself, acknowledged and refused as the Config says.
func (cfg *Config) subscription(msg string) session.Subscription {
	sub := session.Subscription{Key: msg, Message: []byte(msg)}
	if ack := cfg.SubscribeAck; ack != "" {
		sub.Ack = func(m transport.Message) bool { return strings.Contains(string(m.Data), ack) }
	}
	if nack := cfg.SubscribeNack; nack != "" && cfg.SubscribeAck != "" {
		sub.Nack = func(m transport.Message) bool { return strings.Contains(string(m.Data), nack) }
	}
	return sub
}

// ErrLogin is wrapped by the cause of a connection dropped because the
// login's ack did not come, or the login could not be sent.
var ErrLogin = errors.New("login")

// loginHook sends login first on every connection and, with an ack, waits
// for a message containing it; without it in time the hook fails, and
// the connection is Lost with a cause naming the login.
func loginHook(login, ack string, timeout time.Duration) func(context.Context, *session.Session) error {
	want := []byte(ack)
	return func(ctx context.Context, s *session.Session) error {
		if len(want) == 0 {
			if err := s.SendText(ctx, login); err != nil {
				return fmt.Errorf("%w: send: %w", ErrLogin, err)
			}
			return nil
		}
		rctx, cancel := context.WithTimeout(ctx, timeout)
		defer cancel()
		_, err := s.Request(rctx, transport.Text, []byte(login), func(m transport.Message) bool { return bytes.Contains(m.Data, want) })
		switch {
		case err == nil:
			return nil
		case errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil:
			return fmt.Errorf("%w: no ack within %v (a message containing %s)", ErrLogin, timeout, want)
		}
		return fmt.Errorf("%w: %w", ErrLogin, err)
	}
}

// jsonPingResponder answers a JSON object holding key req with
// {"rep": its value}: HTX's {"ping":n} and {"pong":n}.
func jsonPingResponder(req, rep string) func(transport.Message) ([]byte, bool) {
	return func(m transport.Message) ([]byte, bool) {
		if m.Type != transport.Text || len(m.Data) == 0 || m.Data[0] != '{' || !bytes.Contains(m.Data, []byte(strconv.Quote(req))) {
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

// streamKey is the Conflate policy's key: the raw value of a JSON
// message's first top-level field among stream, channel, topic, arg and
// symbol; a message without one is a stream of its own, never conflated.
func streamKey() func(transport.Message) string {
	var n atomic.Uint64
	return func(m transport.Message) string {
		var obj map[string]json.RawMessage
		if m.Type == transport.Text && json.Unmarshal(m.Data, &obj) == nil {
			for _, f := range []string{"stream", "channel", "topic", "arg", "symbol"} {
				if v, ok := obj[f]; ok {
					return f + "=" + string(v)
				}
			}
		}
		return "\x00" + strconv.FormatUint(n.Add(1), 10)
	}
}
