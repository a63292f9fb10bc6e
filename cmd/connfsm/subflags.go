package main

import (
	"flag"
	"strings"
	"time"

	"github.com/connfsm/connfsm/wsconn"
)

// dial's subscription flags: how the venue acknowledges or refuses
// -subscribe's messages, and how long an ack may take.
type subFlags struct {
	ack, nack  string
	ackTimeout time.Duration
}

func (s *subFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&s.ack, "subscribe-ack", "", "a message containing this `text` acknowledges the oldest -subscribe not yet answered (it is then Active; without it, a subscription is Active once sent)")
	fs.StringVar(&s.nack, "subscribe-nack", "", "a message containing this `text` refuses the oldest -subscribe not yet answered: it is Failed, and not sent again (needs -subscribe-ack)")
	fs.DurationVar(&s.ackTimeout, "ack-timeout", wsconn.DefaultAckTimeout, "how long a -subscribe waits for -subscribe-ack before it is Failed; the connection stays")
}

// subscription returns the subscription -subscribe msg makes: keyed by
// the message itself, acknowledged and refused as the flags say.
func (s *subFlags) subscription(msg string) wsconn.Subscription {
	sub := wsconn.Subscription{Key: msg, Message: []byte(msg)}
	if ack := s.ack; ack != "" {
		sub.Ack = func(m wsconn.Message) bool { return strings.Contains(string(m.Data), ack) }
	}
	if nack := s.nack; nack != "" && s.ack != "" {
		sub.Nack = func(m wsconn.Message) bool { return strings.Contains(string(m.Data), nack) }
	}
	return sub
}

// options returns the ack timeout.
func (s *subFlags) options() []wsconn.Option {
	return []wsconn.Option{wsconn.WithAckTimeout(s.ackTimeout)}
}
