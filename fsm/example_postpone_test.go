package fsm_test

import (
	"context"
	"fmt"
	"os"

	"github.com/connfsm/connfsm/fsm"
)

type Link int

const (
	Dialing Link = iota
	Linked
)

func (l Link) String() string { return [...]string{"Dialing", "Linked"}[l] }

// ExamplePostpone keeps the messages sent while a link is dialing and
// delivers them, in order, once it is up: no buffer beside the machine.
func ExamplePostpone() {
	type r = fsm.Rule[Link, string]
	def, err := fsm.NewBuilder[Link, string](Dialing).
		States(Dialing, Linked).
		Events("Send", "Connected").
		Rules(
			r{From: Dialing, On: "Send", Then: fsm.Postpone[Link](), Reason: "not connected yet"},
			r{From: Dialing, On: "Connected", Then: fsm.To(Linked)},
			r{From: Linked, On: "Send", Then: fsm.To(Linked)},
			r{From: Linked, On: "Connected", Then: fsm.Ignore[Link](), Reason: "linked already"},
		).
		Action(Linked, "Send", func(_ context.Context, t fsm.Transition[Link, string]) { fmt.Println("sent", t.Payload) }).
		PostponeLimit(16).
		Build()
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = def.WriteMatrix(os.Stdout)
	m := def.Start(context.Background(), fsm.Config[Link, string]{Observer: func(_ context.Context, r fsm.Record[Link, string]) {
		fmt.Println(r)
	}})
	_ = m.FireWith(context.Background(), "Send", "hello")
	_ = m.FireWith(context.Background(), "Send", "world")
	_ = m.Fire(context.Background(), "Connected")
	_ = m.Stop(context.Background())
	// Output:
	// | state \ event | Send | Connected |
	// |---|---|---|
	// | Dialing | postpone: not connected yet | → Linked |
	// | Linked | → Linked | ignore: linked already |
	// started in Dialing
	// postponed Send in Dialing: not connected yet
	// postponed Send in Dialing: not connected yet
	// Dialing --Connected--> Linked (epoch 2)
	// sent hello
	// Linked --Send--> Linked (epoch 3)
	// sent world
	// Linked --Send--> Linked (epoch 4)
	// stopped in Linked
}
