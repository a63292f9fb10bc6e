package transport_test

import (
	"errors"
	"io"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/session/transport"
)

func TestAttemptRecords(t *testing.T) {
	tests := []struct {
		name          string
		sent, reached bool
		wantS, wantR  bool
	}{
		{"nothing", false, false, false, false},
		{"sent", true, false, true, false},
		{"sent and reached", true, true, true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &transport.Attempt{ReadLimit: 1 << 10}
			if tt.sent {
				a.Sent()
			}
			if tt.reached {
				a.Reached()
			}
			got := []bool{a.WasSent(), a.WasReached()}
			if diff := cmp.Diff([]bool{tt.wantS, tt.wantR}, got); diff != "" {
				t.Errorf("WasSent, WasReached (-want +got):\n%s", diff)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	cause := io.ErrUnexpectedEOF
	tests := []struct {
		name    string
		err     error
		want    string
		matches []error
	}{
		{"close with reason", &transport.CloseError{Code: 4001, Reason: "bad key", Err: cause},
			`session: closed by the peer with status 4001: "bad key"`, []error{cause}},
		{"close without reason", &transport.CloseError{Code: transport.StatusGoingAway, Err: cause},
			"session: closed by the peer with status 1001", []error{cause}},
		{"handshake", &transport.HandshakeError{Status: 429, Err: cause},
			"session: handshake refused with HTTP 429: unexpected EOF", []error{cause}},
		{"config", &transport.ConfigError{Problems: []error{errors.New("a: 1"), errors.New("b: 2")}},
			"session: invalid configuration: a: 1; b: 2", []error{transport.ErrInvalidConfig}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, tt.err.Error()); diff != "" {
				t.Errorf("Error() (-want +got):\n%s", diff)
			}
			for _, target := range tt.matches {
				if !errors.Is(tt.err, target) {
					t.Errorf("errors.Is(%v, %v) = false", tt.err, target)
				}
			}
		})
	}
}

func TestMessageTypeString(t *testing.T) {
	got := []string{transport.Text.String(), transport.Binary.String(), transport.MessageType(7).String()}
	if diff := cmp.Diff([]string{"text", "binary", "MessageType(7)"}, got); diff != "" {
		t.Errorf("String (-want +got):\n%s", diff)
	}
}
