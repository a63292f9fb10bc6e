package wsconn

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/session"
	"github.com/connfsm/connfsm/session/transport"
)

// TestSettingsOwnedByTheirClient: a transport on the defaults shares
// noSettings; the first option gives it settings of its own, and never
// writes the shared ones.
func TestSettingsOwnedByTheirClient(t *testing.T) {
	ctx := context.Background()
	plain := newTransport("ws://127.0.0.1:1/")
	set := newTransport("ws://127.0.0.1:1/")
	h := http.Header{"X-Key": {"v"}}
	// WithHTTPClient(nil) is refused: nothing dials, the other options ran.
	_, err := session.Dial(ctx, set, WithHeader(h), WithSubprotocols("a"), WithHTTPClient(nil))
	var ce *transport.ConfigError
	if !errors.As(err, &ce) {
		t.Fatalf("Dial with a nil HTTP client = %v, want a *session.ConfigError", err)
	}
	if plain.settings != &noSettings {
		t.Error("a transport no option was given has settings of its own")
	}
	if set.settings == &noSettings {
		t.Fatal("a transport given options shares noSettings")
	}
	if diff := cmp.Diff(h, set.header); diff != "" {
		t.Errorf("header (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"a"}, set.subprotocols); diff != "" {
		t.Errorf("subprotocols (-want +got):\n%s", diff)
	}
	if noSettings.header != nil || noSettings.subprotocols != nil || noSettings.httpClient != nil {
		t.Errorf("an option wrote the shared noSettings: %+v", noSettings)
	}
}
