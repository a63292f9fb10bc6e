package fsmtest_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/fsm/fsmtest"
)

type Media int

const (
	MPlayer Media = iota
	MPlayback
	MPlaying
	MPaused
	MVolume
	MAudible
	MMuted
	MOff
	MPlayerH // MPlayer's deep history
)

func (s Media) String() string {
	return [...]string{"Player", "Playback", "Playing", "Paused", "Volume", "Audible", "Muted", "Off", "Player.H*"}[s]
}

type Key int

const (
	KPlayPause Key = iota
	KMute
	KQuiet
	KPower
	KEject
)

func (b Key) String() string {
	return [...]string{"PlayPause", "Mute", "Quiet", "Power", "Eject"}[b]
}

// mediaPlayer: MPlayback{MPlaying, MPaused} ∥ MVolume{MAudible, MMuted} in
// MPlayer, which KPower leaves for MOff and re-enters through its deep
// history.
func mediaPlayer(t testing.TB) *fsm.Definition[Media, Key] {
	t.Helper()
	type r = fsm.Rule[Media, Key]
	d, err := fsm.NewBuilder[Media, Key](MPlayer).
		States(MPlayer, MPlayback, MPlaying, MPaused, MVolume, MAudible, MMuted, MOff).
		Events(KPlayPause, KMute, KQuiet, KPower, KEject).
		Parallel(MPlayer, MPlayback, MVolume).
		Children(MPlayback, MPlaying, MPaused).
		Children(MVolume, MAudible, MMuted).
		History(MPlayer, fsm.Deep, MPlayerH).
		Rules(
			r{From: MPlaying, On: KPlayPause, Then: fsm.To(MPaused), Reason: ""},
			r{From: MPaused, On: KPlayPause, Then: fsm.To(MPlaying), Reason: ""},
			r{From: MAudible, On: KMute, Then: fsm.To(MMuted), Reason: ""},
			r{From: MMuted, On: KMute, Then: fsm.To(MAudible), Reason: ""},
			r{From: MPlayback, On: KMute, Then: fsm.Ignore[Media](), Reason: "the volume's"},
			r{From: MVolume, On: KPlayPause, Then: fsm.Ignore[Media](), Reason: "playback's"},
			r{From: MPlaying, On: KQuiet, Then: fsm.To(MPaused), Reason: ""},
			r{From: MPaused, On: KQuiet, Then: fsm.Ignore[Media](), Reason: "paused"},
			r{From: MAudible, On: KQuiet, Then: fsm.To(MMuted), Reason: ""},
			r{From: MMuted, On: KQuiet, Then: fsm.Ignore[Media](), Reason: "muted"},
			r{From: MPlayer, On: KPower, Then: fsm.To(MOff), Reason: ""},
			r{From: MPlaying, On: KEject, Then: fsm.Reject[Media](), Reason: "stop first"},
			r{From: MPaused, On: KEject, Then: fsm.To(MOff), Reason: ""},
			r{From: MVolume, On: KEject, Then: fsm.Ignore[Media](), Reason: "playback's"},
			r{From: MOff, On: KPower, Then: fsm.To(MPlayerH), Reason: ""},
			r{From: MOff, On: KPlayPause, Then: fsm.Ignore[Media](), Reason: "off"},
			r{From: MOff, On: KMute, Then: fsm.Ignore[Media](), Reason: "off"},
			r{From: MOff, On: KQuiet, Then: fsm.Ignore[Media](), Reason: "off"},
			r{From: MOff, On: KEject, Then: fsm.Ignore[Media](), Reason: "off"},
		).Build()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// TestRegionsPaths: the paths over configurations take every declared
// transition of every region, and replay on real machines as they say.
func TestRegionsPaths(t *testing.T) {
	def := mediaPlayer(t)
	paths := fsmtest.Paths(def)
	if len(paths) == 0 {
		t.Fatal("no paths")
	}
	if u := fsmtest.Uncovered(def, paths); u != nil {
		t.Errorf("Uncovered(Paths) = %v, want nil", u)
	}
	if u := fsmtest.Uncovered(def, paths[:1]); len(u) == 0 {
		t.Errorf("one path covers everything: %v", paths[0])
	}
	for _, p := range paths {
		ctx := context.Background()
		m := def.Start(ctx, fsm.Config[Media, Key]{})
		got := []Media{m.State()}
		for _, e := range p.Events {
			_ = m.Fire(ctx, e)
			got = append(got, m.State())
		}
		m.Stop(ctx)
		if diff := cmp.Diff(p.States, got); diff != "" {
			t.Errorf("%v on a machine (-path +machine):\n%s", p, diff)
		}
	}
}

func TestRegionsPathTo(t *testing.T) {
	def := mediaPlayer(t)
	for _, tt := range []struct {
		leaf Media
		want fsmtest.Path[Media, Key]
		ok   bool
	}{
		{MPlaying, fsmtest.Path[Media, Key]{States: []Media{MPlaying}}, true},
		{MAudible, fsmtest.Path[Media, Key]{States: []Media{MPlaying}}, true},
		{MMuted, fsmtest.Path[Media, Key]{Events: []Key{KMute}, States: []Media{MPlaying, MPlaying}}, true},
		{MOff, fsmtest.Path[Media, Key]{Events: []Key{KPower}, States: []Media{MPlaying, MOff}}, true},
		{MPlayer, fsmtest.Path[Media, Key]{}, false},
	} {
		got, ok := fsmtest.PathTo(def, tt.leaf)
		if ok != tt.ok {
			t.Errorf("PathTo(%v) ok = %v", tt.leaf, ok)
		}
		if diff := cmp.Diff(tt.want, got); diff != "" {
			t.Errorf("PathTo(%v) (-want +got):\n%s", tt.leaf, diff)
		}
	}
}

// TestRegionsExplore: exploration runs over configurations; a step that
// moves both regions is one step with two moves, and a resume through the
// deep history comes back to the leaves left.
func TestRegionsExplore(t *testing.T) {
	def := mediaPlayer(t)
	var seen []string
	err := fsmtest.Explore(def, 3, func(tr fsmtest.Trace[Media, Key]) error {
		seen = append(seen, tr.String())
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"Playing --Quiet--> Paused + Audible --Quiet--> Muted",
		"Audible --Mute--> Muted, Playing --Power--> Off, Off --Power--> Playing",
		"Playing --PlayPause--> Paused, Paused --Power--> Off, Off --Power--> Paused",
		"Playing --Eject--> (reject)",
	} {
		if !slices.Contains(seen, want) {
			t.Errorf("no trace %q among %d", want, len(seen))
		}
	}
	errBoom := errors.New("muted and off")
	err = fsmtest.Explore(def, 4, func(tr fsmtest.Trace[Media, Key]) error {
		if strings.Contains(tr.String(), "Muted") && tr.State() == MOff {
			return errBoom
		}
		return nil
	})
	var ee *fsmtest.ExploreError[Media, Key]
	if !errors.As(err, &ee) || !errors.Is(err, errBoom) {
		t.Fatalf("Explore = %v, want an ExploreError wrapping the check's", err)
	}
	if got := ee.Trace.String(); got != "Playing --PlayPause--> Paused, Paused --PlayPause--> Playing, Audible --Mute--> Muted, Playing --Power--> Off" {
		t.Errorf("failing trace %q", got)
	}
}

// TestRegionsCheck: rows about a leaf of either region.
func TestRegionsCheck(t *testing.T) {
	fsmtest.Check(t, mediaPlayer(t), []fsmtest.Row[Media, Key]{
		{From: MPlaying, Event: KPlayPause, Want: fsm.To(MPaused)},
		{From: MMuted, Event: KMute, Want: fsm.To(MAudible)},
		{From: MAudible, Event: KPlayPause, Want: fsm.Ignore[Media]()},
		{From: MPlaying, Event: KEject, Want: fsm.Reject[Media]()},
		{From: MAudible, Event: KPower, Want: fsm.To(MOff)},
	})
}
