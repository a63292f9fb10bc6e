package main

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// subscriptionLines returns the subscription records, as
// "key: from -event-> to", with their causes.
func subscriptionLines(lines []map[string]any) (steps []string, causes map[string]string) {
	causes = map[string]string{}
	for _, l := range lines {
		if l["kind"] != "subscription" {
			continue
		}
		k, _ := l["key"].(string)
		steps = append(steps, k+": "+l["from"].(string)+" -"+l["event"].(string)+"-> "+l["to"].(string))
		if c, ok := l["cause"].(string); ok && causes[k] == "" {
			causes[k] = c // the first: a close later loses them all
		}
	}
	return steps, causes
}

// TestDialSubscribeAckNack: -subscribe-ack and -subscribe-nack resolve
// each -subscribe in the order sent; a NACK fails that one alone, with
// the venue's message in its cause, and the connection becomes Ready; the
// JSON timeline has a record of kind subscription per transition.
func TestDialSubscribeAckNack(t *testing.T) {
	srv := venue(t, wsconntest.Default(wsconntest.OnMessage(func(c *wsconntest.Conn, m wsconntest.Message) bool {
		switch text := string(m.Data); {
		case strings.Contains(text, "BAD"):
			_ = c.SendText(context.Background(), `{"event":"error","code":"60018","msg":"unknown instrument"}`)
		case strings.Contains(text, "subscribe"):
			_ = c.SendText(context.Background(), `{"event":"subscribe"}`)
		}
		return true
	})))
	args := []string{"-subscribe", `{"op":"subscribe","arg":"BTC"}`, "-subscribe", `{"op":"subscribe","arg":"BAD"}`,
		"-subscribe", `{"op":"subscribe","arg":"ETH"}`,
		"-subscribe-ack", `"event":"subscribe"`, "-subscribe-nack", `"event":"error"`, "-ack-timeout", "2s"}
	_, _, lines := dialVenue(t, srv, "Ready", func(lines []map[string]any) bool { return hasPhase(lines, "Alive/Ready") }, args...)
	steps, causes := subscriptionLines(lines)
	btc, bad, eth := `{"op":"subscribe","arg":"BTC"}`, `{"op":"subscribe","arg":"BAD"}`, `{"op":"subscribe","arg":"ETH"}`
	// Each key's steps in order; the keys' steps interleave as the acks
	// come.
	perKey := map[string][]string{}
	for _, st := range steps {
		for _, k := range []string{btc, bad, eth} {
			if rest, ok := strings.CutPrefix(st, k+": "); ok {
				perKey[k] = append(perKey[k], rest)
			}
		}
	}
	want := map[string][]string{
		btc: {"Pending -Send-> Subscribing", "Subscribing -Ack-> Active"},
		bad: {"Pending -Send-> Subscribing", "Subscribing -Nack-> Failed"},
		eth: {"Pending -Send-> Subscribing", "Subscribing -Ack-> Active"},
	}
	for k, w := range want {
		got := perKey[k][:min(len(perKey[k]), len(w))]
		if diff := cmp.Diff(w, got); diff != "" {
			t.Errorf("%s's subscription records (-want +got):\n%s", k, diff)
		}
	}
	if c := causes[bad]; !strings.Contains(c, "subscription refused") || !strings.Contains(c, "unknown instrument") {
		t.Errorf("%s's cause %q, want the refusal with the venue's message", bad, c)
	}
	if lost := transitions(lines, "Alive-Lost->Reconnecting"); len(lost) != 0 {
		t.Errorf("losses %v, want none: a NACK fails the subscription alone", lost)
	}
}
