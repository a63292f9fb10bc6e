package fsm

import (
	"context"
	"testing"

	looplab "github.com/looplab/fsm"
)

type st int
type ev int

func (s st) String() string { return [...]string{"Off", "On"}[s] }
func (e ev) String() string { return [...]string{"Toggle"}[e] }

func BenchmarkToggleQuick(b *testing.B) {
	b.Run("connfsm", func(b *testing.B) {
		def, err := NewBuilder[st, ev](0).States(0, 1).Events(0).Rules(
			Rule[st, ev]{0, 0, To[st](1), "on"}, Rule[st, ev]{1, 0, To[st](0), "off"}).Build()
		if err != nil {
			b.Fatal(err)
		}
		m := def.Start(context.Background(), Config[st, ev]{})
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			m.Fire(ctx, 0)
		}
	})
	b.Run("looplab", func(b *testing.B) {
		f := looplab.NewFSM("off", looplab.Events{{Name: "toggle", Src: []string{"off"}, Dst: "on"}, {Name: "toggle", Src: []string{"on"}, Dst: "off"}}, nil)
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			f.Event(ctx, "toggle")
		}
	})
}
