package wsconn

import (
	"errors"
	"testing"
	"testing/synctest"
	"time"

	"github.com/connfsm/connfsm/tasks"
)

// TestPanickingClassifier: a classifier that panics ends the client with
// one of Err's documented types, a *GaveUpError, which holds the panic.
func TestPanickingClassifier(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		srv := startServer(t, nil)
		srv.net.SetDown(true)
		var rec recorder
		c := dialTest(t, srv, &rec, WithClassifier(func(error) Verdict { panic("classifier bug") }),
			WithBackoff(Backoff{Initial: time.Second, Max: time.Second, Multiplier: 1}))
		<-c.Done()
		err := c.Err()
		if _, ok := err.(*GaveUpError); !ok {
			t.Fatalf("Err() = %T %v, want a *GaveUpError", err, err)
		}
		var pe *tasks.PanicError
		if !errors.As(err, &pe) || pe.Value != "classifier bug" {
			t.Errorf("Err() = %v, want it to wrap the panic", err)
		}
		if !errors.Is(err, errRefused.Err) {
			t.Errorf("Err() = %v, want it to keep the failure the classifier was given", err)
		}
	})
}
