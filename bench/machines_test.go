package bench

import (
	"context"
	"runtime"
	"testing"

	"github.com/connfsm/connfsm/fsm"
)

// The five states of a subscription-sized machine without tasks: the
// shape a program keeps one of per stream.
type sub int

const (
	Pending sub = iota
	Subscribing
	Active
	Unsubscribing
	Removed
)

func (s sub) String() string {
	return [...]string{"Pending", "Subscribing", "Active", "Unsubscribing", "Removed"}[s]
}

type subEvent int

const (
	Advance subEvent = iota
	Reset
)

func (e subEvent) String() string { return [...]string{"Advance", "Reset"}[e] }

func subDefinition(tb testing.TB) *fsm.Definition[sub, subEvent] {
	tb.Helper()
	type r = fsm.Rule[sub, subEvent]
	states := []sub{Pending, Subscribing, Active, Unsubscribing, Removed}
	b := fsm.NewBuilder[sub, subEvent](Pending).States(states...).Events(Advance, Reset)
	for i, s := range states {
		b.Rules(r{From: s, On: Advance, Then: fsm.To(states[(i+1)%len(states)])},
			r{From: s, On: Reset, Then: fsm.To(Pending)})
	}
	def, err := b.Build()
	if err != nil {
		tb.Fatal(err)
	}
	return def
}

// machinesPerRun is how many machines each iteration of BenchmarkMachines
// starts and keeps alive at once.
const machinesPerRun = 100_000

// BenchmarkMachines starts 100,000 machines of a five-state definition
// without tasks and keeps them alive, each having taken one step, and
// reports what each costs while alive: B/machine (live heap after a GC)
// and goroutines/machine. ns/op is the time to start and step them all.
func BenchmarkMachines(b *testing.B) {
	def := subDefinition(b)
	ctx := context.Background()
	ms := make([]*fsm.Machine[sub, subEvent], machinesPerRun)
	var bytes, goroutines float64
	runs := 0
	for b.Loop() {
		b.StopTimer()
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		g0 := runtime.NumGoroutine()
		b.StartTimer()
		for i := range ms {
			ms[i] = def.Start(ctx, fsm.Config[sub, subEvent]{})
			if err := ms[i].Fire(ctx, Advance); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		runtime.GC()
		runtime.ReadMemStats(&after)
		bytes += float64(after.HeapAlloc-before.HeapAlloc) / machinesPerRun
		goroutines += float64(runtime.NumGoroutine()-g0) / machinesPerRun
		runs++
		for i, m := range ms {
			_ = m.Stop(ctx)
			ms[i] = nil
		}
		b.StartTimer()
	}
	b.ReportMetric(bytes/float64(runs), "B/machine")
	b.ReportMetric(goroutines/float64(runs), "goroutines/machine")
}
