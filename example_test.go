package connfsm_test

import (
	"context"
	"fmt"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
)

// The lifecycle with placeholder tasks, driven by hand: a connection is made
// and lost, both the reader and the heartbeat report the loss, and the user
// closes while the client is connecting again.
func ExampleDefinition() {
	ctx := context.Background()
	m := connfsm.Definition().Start(ctx, fsm.Config[connfsm.State, connfsm.Event]{
		Observer: func(_ context.Context, r fsm.Record[connfsm.State, connfsm.Event]) {
			switch r.Kind {
			case fsm.RecordTransition:
				fmt.Printf("%v --%v--> %v (epoch %d)\n", r.From, r.Event, r.To, r.Epoch)
			case fsm.RecordIgnored:
				fmt.Printf("%v ignores %v\n", r.From, r.Event)
			}
		},
	})
	defer m.Stop(ctx)

	for _, e := range []connfsm.Event{connfsm.Connected, connfsm.Lost, connfsm.Lost, connfsm.RetryDue, connfsm.Close} {
		if err := m.Fire(ctx, e); err != nil {
			fmt.Println(err)
		}
	}
	fmt.Println("now", m.State())
	// Output:
	// Connecting --Connected--> Syncing (epoch 3)
	// Syncing --Lost--> Reconnecting (epoch 4)
	// Reconnecting ignores Lost
	// Reconnecting --RetryDue--> Connecting (epoch 5)
	// Connecting --Close--> Closed (epoch 6)
	// now Closed
}
