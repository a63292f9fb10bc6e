package otelconnfsm

import (
	"context"
	"errors"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.opentelemetry.io/otel"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
)

// A media player: two parallel regions (playback, volume) and Off.
type mp int

const (
	player mp = iota
	playback
	playing
	paused
	volume
	audible
	muted
	off
)

func (s mp) String() string {
	return [...]string{"Player", "Playback", "Playing", "Paused", "Volume", "Audible", "Muted", "Off"}[s]
}

type mpEv int

const (
	toggle mpEv = iota // Playing ⇄ Paused
	quiet              // both regions: pause and mute
	power              // Player ⇄ Off
	crash              // the decoder panics
)

type record = fsm.Record[connfsm.State, connfsm.Event]

func (e mpEv) String() string { return [...]string{"Toggle", "Quiet", "Power", "Crash"}[e] }

func player_(t testing.TB, decoder fsm.Task[mp, mpEv]) *fsm.Definition[mp, mpEv] {
	t.Helper()
	r := func(from mp, on mpEv, then fsm.Outcome[mp], reason string) fsm.Rule[mp, mpEv] {
		return fsm.Rule[mp, mpEv]{From: from, On: on, Then: then, Reason: reason}
	}
	b := fsm.NewBuilder[mp, mpEv](player).
		States(player, playback, playing, paused, volume, audible, muted, off).
		Events(toggle, quiet, power, crash).
		Parallel(player, playback, volume).
		Children(playback, playing, paused).
		Children(volume, audible, muted).
		Rules(
			r(playing, toggle, fsm.To(paused), ""),
			r(paused, toggle, fsm.To(playing), ""),
			r(volume, toggle, fsm.Ignore[mp](), "playback's"),
			r(playing, quiet, fsm.To(paused), ""),
			r(paused, quiet, fsm.Ignore[mp](), "paused already"),
			r(audible, quiet, fsm.To(muted), ""),
			r(muted, quiet, fsm.Ignore[mp](), "muted already"),
			r(player, power, fsm.To(off), ""),
			r(off, power, fsm.To(player), ""),
			r(off, toggle, fsm.Ignore[mp](), "off"),
			r(off, quiet, fsm.Ignore[mp](), "off"),
			r(player, crash, fsm.Ignore[mp](), "the decoder's"),
			r(off, crash, fsm.Ignore[mp](), "off"),
		)
	if decoder != nil {
		b.Task(playback, "decoder", decoder)
	}
	d, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func waitCtx(ctx context.Context, _ fsm.Transition[mp, mpEv], _ fsm.Emit[mpEv]) error {
	<-ctx.Done()
	return nil
}

// TestMachinesParallel: a machine counts once per active leaf, a step that
// moves two regions counts two transitions, states are named by path, and
// a stopped machine is in no state.
func TestMachinesParallel(t *testing.T) {
	provider, reader := newReader(t)
	ms, err := NewMachines("player", player_(t, waitCtx), WithMeterProvider(provider))
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	var cfg fsm.Config[mp, mpEv]
	if err := ms.Attach(&cfg); err != nil {
		t.Fatal(err)
	}
	m := player_(t, waitCtx).Start(context.Background(), cfg)
	defer m.Stop(context.Background())

	gauge := func() map[string]float64 { return only(collect(t, reader), "connfsm.machines") }
	want := map[string]float64{
		"connfsm.machines{machine=player,state=Player/Playback/Playing}": 1,
		"connfsm.machines{machine=player,state=Player/Playback/Paused}":  0,
		"connfsm.machines{machine=player,state=Player/Volume/Audible}":   1,
		"connfsm.machines{machine=player,state=Player/Volume/Muted}":     0,
		"connfsm.machines{machine=player,state=Off}":                     0,
	}
	if diff := cmp.Diff(want, gauge()); diff != "" {
		t.Errorf("after start (-want +got):\n%s", diff)
	}
	ctx := context.Background()
	for _, ev := range []mpEv{quiet, power} {
		if err := m.Fire(ctx, ev); err != nil {
			t.Fatalf("fire %v: %v", ev, err)
		}
	}
	got := collect(t, reader)
	wantT := map[string]float64{
		"connfsm.transitions{event=Quiet,from=Player/Playback/Playing,machine=player,to=Player/Playback/Paused}": 1,
		"connfsm.transitions{event=Quiet,from=Player/Volume/Audible,machine=player,to=Player/Volume/Muted}":      1,
		"connfsm.transitions{event=Power,from=Player/Playback/Paused,machine=player,to=Off}":                     1,
	}
	if diff := cmp.Diff(wantT, only(got, "connfsm.transitions")); diff != "" {
		t.Errorf("transitions (-want +got):\n%s", diff)
	}
	want = map[string]float64{
		"connfsm.machines{machine=player,state=Player/Playback/Playing}": 0,
		"connfsm.machines{machine=player,state=Player/Playback/Paused}":  0,
		"connfsm.machines{machine=player,state=Player/Volume/Audible}":   0,
		"connfsm.machines{machine=player,state=Player/Volume/Muted}":     0,
		"connfsm.machines{machine=player,state=Off}":                     1,
	}
	if diff := cmp.Diff(want, only(got, "connfsm.machines")); diff != "" {
		t.Errorf("after Quiet, Power (-want +got):\n%s", diff)
	}
	// Every state left once so far, composites included; Playback's
	// decoder was joined once.
	wantD := map[string]float64{
		"connfsm.state.duration{machine=player,state=Player/Playback/Playing}#count": 1,
		"connfsm.state.duration{machine=player,state=Player/Playback/Paused}#count":  1,
		"connfsm.state.duration{machine=player,state=Player/Volume/Audible}#count":   1,
		"connfsm.state.duration{machine=player,state=Player/Volume/Muted}#count":     1,
		"connfsm.state.duration{machine=player,state=Player/Playback}#count":         1,
		"connfsm.state.duration{machine=player,state=Player/Volume}#count":           1,
		"connfsm.state.duration{machine=player,state=Player}#count":                  1,
		"connfsm.task.join.duration{machine=player,state=Player/Playback}#count":     1,
	}
	gotD := map[string]float64{}
	for k, v := range got {
		if strings.HasSuffix(k, "#count") {
			gotD[k] = v
		}
	}
	if diff := cmp.Diff(wantD, gotD); diff != "" {
		t.Errorf("durations (-want +got):\n%s", diff)
	}
	if err := m.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	for k, v := range gauge() {
		if v != 0 {
			t.Errorf("after Stop: %s = %v, want 0", k, v)
		}
	}
}

// TestStragglersAndPanics: a task that outlives its join counts as a
// straggler of its state; a task that panics counts as a panic.
func TestStragglersAndPanics(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		provider, reader := newReader(t)
		release := make(chan struct{})
		var crashed = make(chan struct{})
		decoder := func(ctx context.Context, in fsm.Transition[mp, mpEv], _ fsm.Emit[mpEv]) error {
			select {
			case <-crashed:
				panic("decoder broke")
			case <-ctx.Done():
			}
			<-release // ignores its context: a straggler
			return nil
		}
		def := player_(t, decoder)
		ms, err := NewMachines("player", def, WithMeterProvider(provider))
		if err != nil {
			t.Fatal(err)
		}
		defer ms.Close()
		cfg := fsm.Config[mp, mpEv]{JoinTimeout: time.Second}
		if err := ms.Attach(&cfg); err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		m := def.Start(ctx, cfg)
		if err := m.Fire(ctx, power); err != nil { // Player → Off: the decoder straggles
			t.Fatal(err)
		}
		close(release)
		synctest.Wait()
		if err := m.Fire(ctx, power); err != nil { // back: a new decoder
			t.Fatal(err)
		}
		close(crashed)
		synctest.Wait()
		if err := m.Stop(ctx); err != nil {
			t.Fatal(err)
		}
		got := collect(t, reader)
		want := map[string]float64{
			"connfsm.stragglers{machine=player,state=Player/Playback}": 1,
			"connfsm.panics{machine=player}":                           1,
		}
		gotSP := only(got, "connfsm.stragglers")
		for k, v := range only(got, "connfsm.panics") {
			gotSP[k] = v
		}
		if diff := cmp.Diff(want, gotSP); diff != "" {
			t.Errorf("stragglers and panics (-want +got):\n%s", diff)
		}
	})
}

// TestAttachTwice: attaching twice is refused, never counted twice.
func TestAttachTwice(t *testing.T) {
	provider, reader := newReader(t)
	def := player_(t, nil)
	ms, err := NewMachines("player", def, WithMeterProvider(provider))
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	t.Run("same name on one provider", func(t *testing.T) {
		if _, err := NewMachines("player", def, WithMeterProvider(provider)); !errors.Is(err, ErrAttached) {
			t.Errorf("second NewMachines: %v, want ErrAttached", err)
		}
	})
	t.Run("one config twice", func(t *testing.T) {
		var cfg fsm.Config[mp, mpEv]
		if err := ms.Attach(&cfg); err != nil {
			t.Fatal(err)
		}
		if err := ms.Attach(&cfg); !errors.Is(err, ErrAttached) {
			t.Errorf("second Attach: %v, want ErrAttached", err)
		}
	})
	t.Run("one observer on two machines", func(t *testing.T) {
		var handled []error
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) { handled = append(handled, err) }))
		defer otel.SetErrorHandler(otel.ErrorHandlerFunc(func(error) {}))
		obs := ms.Observer()
		ctx := context.Background()
		a := def.Start(ctx, fsm.Config[mp, mpEv]{Observer: obs})
		b := def.Start(ctx, fsm.Config[mp, mpEv]{Observer: obs})
		defer a.Stop(ctx)
		defer b.Stop(ctx)
		if len(handled) != 1 || !errors.Is(handled[0], ErrAttached) {
			t.Errorf("errors handled: %v, want one ErrAttached", handled)
		}
		if got := collect(t, reader)["connfsm.machines{machine=player,state=Player/Playback/Playing}"]; got != 0 {
			t.Errorf("machines Playing: %v, want 0 (the observer stopped counting)", got)
		}
	})
}

// A flat switch, as bench's BenchmarkToggle runs it.
type sw int

const (
	swOff sw = iota
	swOn
)

func (s sw) String() string { return [...]string{"Off", "On"}[s] }

func switchDef(t testing.TB) *fsm.Definition[sw, mpEv] {
	t.Helper()
	d, err := fsm.NewBuilder[sw, mpEv](swOff).States(swOff, swOn).Events(toggle).
		Rules(fsm.Rule[sw, mpEv]{From: swOff, On: toggle, Then: fsm.To(swOn)}, fsm.Rule[sw, mpEv]{From: swOn, On: toggle, Then: fsm.To(swOff)}).
		Build()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// allocsPerToggle is what one Toggle allocates on a machine of def, with
// metrics attached or, without them, with an observer that does nothing:
// the engine makes its records only for an observer.
func allocsPerToggle[S comparable](t *testing.T, def *fsm.Definition[S, mpEv], metrics bool) float64 {
	t.Helper()
	cfg := fsm.Config[S, mpEv]{Observer: func(context.Context, fsm.Record[S, mpEv]) {}}
	if metrics {
		provider, _ := newReader(t)
		ms, err := NewMachines("m", def, WithMeterProvider(provider))
		if err != nil {
			t.Fatal(err)
		}
		defer ms.Close()
		if err := ms.Attach(&cfg); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	m := def.Start(ctx, cfg)
	defer m.Stop(ctx)
	return testing.AllocsPerRun(1000, func() { _ = m.Fire(ctx, toggle) })
}

// TestObserverAllocs: metrics add no allocation to a step: a flat machine
// with metrics attached still toggles without allocating, and a parallel
// one allocates what it does for any observer.
func TestObserverAllocs(t *testing.T) {
	if got := allocsPerToggle(t, switchDef(t), true); got != 0 {
		t.Errorf("allocations per toggle of a flat machine with metrics: %v, want 0", got)
	}
	def := player_(t, nil)
	if without, with := allocsPerToggle(t, def, false), allocsPerToggle(t, def, true); with != without {
		t.Errorf("allocations per toggle of a parallel machine: %v with metrics, %v with an observer that does nothing", with, without)
	}
}

// TestHookPanic: a hook's panic stops the machine; the stop counts as a
// panic and takes the machine out of every state.
func TestHookPanic(t *testing.T) {
	provider, reader := newReader(t)
	def, err := fsm.NewBuilder[sw, mpEv](swOff).States(swOff, swOn).Events(toggle).
		Rules(fsm.Rule[sw, mpEv]{From: swOff, On: toggle, Then: fsm.To(swOn)}, fsm.Rule[sw, mpEv]{From: swOn, On: toggle, Then: fsm.To(swOff)}).
		OnEnter(swOn, func(context.Context, fsm.Transition[sw, mpEv]) { panic("on") }).
		Build()
	if err != nil {
		t.Fatal(err)
	}
	ms, err := NewMachines("switch", def, WithMeterProvider(provider))
	if err != nil {
		t.Fatal(err)
	}
	defer ms.Close()
	var cfg fsm.Config[sw, mpEv]
	if err := ms.Attach(&cfg); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	m := def.Start(ctx, cfg)
	if err := m.Fire(ctx, toggle); err == nil {
		t.Fatal("Fire: no error from a panicking hook")
	}
	<-m.Done()
	got := collect(t, reader)
	want := map[string]float64{
		"connfsm.panics{machine=switch}":             1,
		"connfsm.machines{machine=switch,state=Off}": 0,
		"connfsm.machines{machine=switch,state=On}":  0,
	}
	gotSome := only(got, "connfsm.panics")
	for k, v := range only(got, "connfsm.machines") {
		gotSome[k] = v
	}
	if diff := cmp.Diff(want, gotSome); diff != "" {
		t.Errorf("after a hook's panic (-want +got):\n%s", diff)
	}
}
