package tasks_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/connfsm/connfsm/tasks"
)

func Example() {
	failed := make(chan string, 1)
	g := tasks.New(context.Background(), func(name string, err error) {
		failed <- fmt.Sprintf("%s failed: %v", name, err) // called once, for the first failure
	})
	// The heartbeat runs until the group is stopped; context.Cause tells why.
	stopped := make(chan error, 1)
	g.Go("heartbeat", func(ctx context.Context) error {
		<-ctx.Done()
		stopped <- context.Cause(ctx)
		return nil
	})
	// The reader fails, which cancels the heartbeat at once.
	g.Go("reader", func(ctx context.Context) error {
		return errors.New("connection reset")
	})
	fmt.Println("heartbeat stopped:", <-stopped)

	r := g.Stop(errors.New("state exited"), time.Second)
	fmt.Println(<-failed)
	for _, t := range r.Tasks {
		fmt.Printf("%s: failed=%v straggler=%v err=%v\n", t.Name, t.Failed, t.Straggler, t.Err)
	}
	// Output:
	// heartbeat stopped: tasks: task "reader" failed: connection reset
	// reader failed: connection reset
	// heartbeat: failed=false straggler=false err=<nil>
	// reader: failed=true straggler=false err=connection reset
}

// pinger is a task given as a value: the owner's own record of it, so
// starting it allocates no closure.
type pinger struct{ sent int }

func (p *pinger) Run(ctx context.Context) error {
	p.sent++
	<-ctx.Done()
	return nil
}

// An owner that makes one group after another (a connection's tasks, at
// every reconnect) keeps one Joiner for their joins, and builds a Report
// only when a join left a task running.
func ExampleGroup_Halt() {
	var j tasks.Joiner
	var p pinger
	for range 3 {
		g := tasks.New(context.Background(), nil)
		_ = g.GoTask("pinger", &p)
		if left := g.Halt(&j, errors.New("reconnecting"), time.Second); left > 0 {
			fmt.Println("stragglers:", g.Report().Stragglers())
		}
	}
	fmt.Println("pings sent:", p.sent)
	// Output:
	// pings sent: 3
}
