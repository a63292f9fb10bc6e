package fsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/google/go-cmp/cmp"
)

// The media player: Player is parallel, Playback{Playing, Paused} beside
// Volume{Audible, Muted}; Off beside it.
type mpState int

const (
	mPlayer mpState = iota
	mPlayback
	mPlaying
	mPaused
	mVolume
	mAudible
	mMuted
	mOff
	mVolumeH // Volume's history
	mPlayerH // Player's deep history
)

func (s mpState) String() string {
	return [...]string{"Player", "Playback", "Playing", "Paused", "Volume", "Audible", "Muted", "Off", "Volume.H", "Player.H*"}[s]
}

type mpEvent int

const (
	mToggle mpEvent = iota // Playing ⇄ Paused
	mMute                  // Audible ⇄ Muted
	mQuiet                 // both regions: pause and mute
	mPower                 // Player → Off → Player (deep history)
	mReset                 // Player's rule; Muted's own
	mEject                 // Playing rejects; Paused goes Off
	mFault                 // the mixer's failure
)

func (e mpEvent) String() string {
	return [...]string{"Toggle", "Mute", "Quiet", "Power", "Reset", "Eject", "Fault"}[e]
}

// mpRecorder collects what a media player does, in order.
type mpRecorder struct {
	mu      sync.Mutex
	log     []string
	records []Record[mpState, mpEvent]
}

func (r *mpRecorder) add(s string) {
	r.mu.Lock()
	r.log = append(r.log, s)
	r.mu.Unlock()
}

func (r *mpRecorder) take() ([]string, []Record[mpState, mpEvent]) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l, rs := r.log, r.records
	r.log, r.records = nil, nil
	return l, rs
}

// mixerFail, when closed, makes the mixer task fail.
func mediaPlayer(t testing.TB, rec *mpRecorder, mixerFail <-chan struct{}) *Definition[mpState, mpEvent] {
	t.Helper()
	type r = Rule[mpState, mpEvent]
	b := NewBuilder[mpState, mpEvent](mPlayer).
		States(mPlayer, mPlayback, mPlaying, mPaused, mVolume, mAudible, mMuted, mOff).
		Events(mToggle, mMute, mQuiet, mPower, mReset, mEject, mFault).
		Parallel(mPlayer, mPlayback, mVolume).
		Children(mPlayback, mPlaying, mPaused).
		Children(mVolume, mAudible, mMuted).
		History(mPlayer, Deep, mPlayerH).
		Rules(
			r{mPlaying, mToggle, To(mPaused), ""},
			r{mPaused, mToggle, To(mPlaying), ""},
			r{mAudible, mMute, To(mMuted), ""},
			r{mMuted, mMute, To(mAudible), ""},
			r{mPlayback, mMute, Ignore[mpState](), "the volume's"},
			r{mVolume, mToggle, Ignore[mpState](), "playback's"},
			r{mPlaying, mQuiet, To(mPaused), ""},
			r{mPaused, mQuiet, Ignore[mpState](), "paused already"},
			r{mAudible, mQuiet, To(mMuted), ""},
			r{mMuted, mQuiet, Ignore[mpState](), "muted already"},
			r{mPlayer, mPower, To(mOff), "switched off"},
			r{mPlayer, mReset, To(mPlayer), "from the start"},
			r{mMuted, mReset, To(mAudible), "a reset unmutes only"},
			r{mPlaying, mEject, Reject[mpState](), "stop playing first"},
			r{mPaused, mEject, To(mOff), ""},
			r{mVolume, mEject, Ignore[mpState](), "playback's"},
			r{mPlayback, mFault, Reject[mpState](), "a fault is the volume's"},
			r{mVolume, mFault, Internal(mMuted), "the mixer failed"},
			r{mOff, mPower, To(mPlayerH), "back as it was"},
			r{mOff, mToggle, Ignore[mpState](), "off"},
			r{mOff, mMute, Ignore[mpState](), "off"},
			r{mOff, mQuiet, Ignore[mpState](), "off"},
			r{mOff, mReset, Ignore[mpState](), "off"},
			r{mOff, mEject, Ignore[mpState](), "off"},
			r{mOff, mFault, Ignore[mpState](), "off"},
		).
		FailureEvent(mAudible, mFault)
	if rec != nil {
		for _, s := range []mpState{mPlayer, mPlayback, mPlaying, mPaused, mVolume, mAudible, mMuted, mOff} {
			b.OnEnter(s, func(context.Context, Transition[mpState, mpEvent]) { rec.add(fmt.Sprint("enter ", s)) })
			b.OnExit(s, func(context.Context, Transition[mpState, mpEvent]) { rec.add(fmt.Sprint("exit ", s)) })
		}
		b.Task(mPlayback, "decoder", func(ctx context.Context, _ Transition[mpState, mpEvent], _ Emit[mpEvent]) error {
			<-ctx.Done()
			rec.add("decoder done")
			return nil
		})
		b.Task(mAudible, "mixer", func(ctx context.Context, _ Transition[mpState, mpEvent], _ Emit[mpEvent]) error {
			select {
			case <-ctx.Done():
				return nil
			case <-mixerFail:
				return errors.New("mixer broke")
			}
		})
	}
	d, err := b.Build()
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func startPlayer(t *testing.T, rec *mpRecorder, mixerFail <-chan struct{}) *Machine[mpState, mpEvent] {
	d := mediaPlayer(t, rec, mixerFail)
	m := d.Start(context.Background(), Config[mpState, mpEvent]{Observer: func(_ context.Context, r Record[mpState, mpEvent]) {
		rec.mu.Lock()
		rec.records = append(rec.records, r)
		rec.mu.Unlock()
	}})
	t.Cleanup(func() { m.Stop(context.Background()) })
	return m
}

// TestRegionsStart: entering a parallel state enters every region in
// declaration order, each down to its leaf before the next.
func TestRegionsStart(t *testing.T) {
	rec := &mpRecorder{}
	m := startPlayer(t, rec, nil)
	log, recs := rec.take()
	want := []string{"enter Player", "enter Playback", "enter Playing", "enter Volume", "enter Audible"}
	if diff := cmp.Diff(want, log); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	conf := []mpState{mPlayer, mPlayback, mPlaying, mVolume, mAudible}
	if diff := cmp.Diff(conf, m.Configuration()); diff != "" {
		t.Errorf("Configuration (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(conf, recs[0].Entered); diff != "" {
		t.Errorf("started record's Entered (-want +got):\n%s", diff)
	}
	if m.State() != mPlaying || !m.In(mAudible) || !m.In(mVolume) || m.In(mMuted) || m.In(mOff) {
		t.Errorf("State %v, In(Audible) %v, In(Volume) %v, In(Muted) %v, In(Off) %v",
			m.State(), m.In(mAudible), m.In(mVolume), m.In(mMuted), m.In(mOff))
	}
	if diff := cmp.Diff([]mpState{mPlayer, mPlayback, mPlaying}, m.Path()); diff != "" {
		t.Errorf("Path (-want +got):\n%s", diff)
	}
	if got := m.Epoch(); got != 3 {
		t.Errorf("Epoch = %d, want 3 (Playing's entry)", got)
	}
}

// TestRegionsSteps: each event is one step and one record, whatever the
// number of regions it moves; Moves says what each region did.
func TestRegionsSteps(t *testing.T) {
	for _, tt := range []struct {
		name      string
		before    []mpEvent
		event     mpEvent
		wantErr   bool
		wantKind  RecordKind
		wantMoves []Move[mpState]
		wantLog   []string
		wantConf  []mpState
	}{
		{
			name: "one region", event: mToggle, wantKind: RecordTransition,
			wantMoves: []Move[mpState]{{mPlaying, mPaused}},
			wantLog:   []string{"exit Playing", "enter Paused"},
			wantConf:  []mpState{mPlayer, mPlayback, mPaused, mVolume, mAudible},
		},
		{
			name: "both regions", event: mQuiet, wantKind: RecordTransition,
			wantMoves: []Move[mpState]{{mPlaying, mPaused}, {mAudible, mMuted}},
			wantLog:   []string{"exit Audible", "exit Playing", "enter Paused", "enter Muted"},
			wantConf:  []mpState{mPlayer, mPlayback, mPaused, mVolume, mMuted},
		},
		{
			name: "ignored by all", before: []mpEvent{mQuiet}, event: mQuiet, wantKind: RecordIgnored,
			wantConf: []mpState{mPlayer, mPlayback, mPaused, mVolume, mMuted},
		},
		{
			name: "rule on the parallel state exits every region in reverse order", event: mPower, wantKind: RecordTransition,
			wantMoves: []Move[mpState]{{mPlaying, mOff}},
			wantLog: []string{"decoder done", "exit Audible", "exit Volume", "exit Playing", "exit Playback", "exit Player",
				"enter Off"},
			wantConf: []mpState{mOff},
		},
		{
			name: "the same inherited rule from every region is taken once", event: mReset, wantKind: RecordTransition,
			wantMoves: []Move[mpState]{{mPlaying, mPlaying}},
			wantLog: []string{"decoder done", "exit Audible", "exit Volume", "exit Playing", "exit Playback", "exit Player",
				"enter Player", "enter Playback", "enter Playing", "enter Volume", "enter Audible"},
			wantConf: []mpState{mPlayer, mPlayback, mPlaying, mVolume, mAudible},
		},
		{
			name: "a region's own rule preempts the parallel state's", before: []mpEvent{mMute}, event: mReset, wantKind: RecordTransition,
			wantMoves: []Move[mpState]{{mMuted, mAudible}},
			wantLog:   []string{"exit Muted", "enter Audible"},
			wantConf:  []mpState{mPlayer, mPlayback, mPlaying, mVolume, mAudible},
		},
		{
			name: "a reject in one region rejects the event", event: mEject, wantErr: true, wantKind: RecordRejected,
			wantConf: []mpState{mPlayer, mPlayback, mPlaying, mVolume, mAudible},
		},
		{
			name: "deep history of a parallel state re-enters every region's leaf", before: []mpEvent{mToggle, mMute, mPower}, event: mPower,
			wantKind:  RecordTransition,
			wantMoves: []Move[mpState]{{mOff, mPaused}},
			wantLog:   []string{"exit Off", "enter Player", "enter Playback", "enter Paused", "enter Volume", "enter Muted"},
			wantConf:  []mpState{mPlayer, mPlayback, mPaused, mVolume, mMuted},
		},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := &mpRecorder{}
			m := startPlayer(t, rec, nil)
			for _, e := range tt.before {
				if err := m.Fire(context.Background(), e); err != nil {
					t.Fatal(err)
				}
			}
			rec.take()
			err := m.Fire(context.Background(), tt.event)
			if (err != nil) != tt.wantErr {
				t.Errorf("Fire = %v, want error %v", err, tt.wantErr)
			}
			log, recs := rec.take()
			if len(recs) != 1 {
				t.Fatalf("%d records, want one: %+v", len(recs), recs)
			}
			if recs[0].Kind != tt.wantKind {
				t.Errorf("record kind %v, want %v", recs[0].Kind, tt.wantKind)
			}
			if diff := cmp.Diff(tt.wantMoves, recs[0].Moves); diff != "" {
				t.Errorf("Moves (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantLog, log); diff != "" {
				t.Errorf("hooks (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantConf, m.Configuration()); diff != "" {
				t.Errorf("Configuration (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRegionsFailureScope: a failing task of one region cancels its
// failure scope only; the failure event resolves within that region (the
// other region's Reject of it does not apply), and the other region's
// tasks keep running.
//
// In a synctest bubble: In(Muted) is published before Muted's enter hooks
// run, and a Fire made while another goroutine processes only queues, so
// the test waits for the machine to settle rather than for a state.
func TestRegionsFailureScope(t *testing.T) {
	synctest.Test(t, testRegionsFailureScope)
}

func testRegionsFailureScope(t *testing.T) {
	rec := &mpRecorder{}
	fail := make(chan struct{})
	m := startPlayer(t, rec, fail)
	rec.take()
	close(fail)
	synctest.Wait()
	if !m.In(mMuted) {
		t.Fatalf("after the mixer's failure: %v, want Muted active", m.Configuration())
	}
	m.Fire(context.Background(), mToggle) // processed after the fault: the decoder still runs
	synctest.Wait()
	log, recs := rec.take()
	if diff := cmp.Diff([]string{"exit Audible", "enter Muted", "exit Playing", "enter Paused"}, log); diff != "" {
		t.Errorf("hooks (-want +got):\n%s", diff)
	}
	var kinds []RecordKind
	for _, r := range recs {
		kinds = append(kinds, r.Kind)
	}
	if diff := cmp.Diff([]RecordKind{RecordTaskFailed, RecordTransition, RecordTransition}, kinds); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]mpState{mPlayer, mPlayback, mPaused, mVolume, mMuted}, m.Configuration()); diff != "" {
		t.Errorf("Configuration (-want +got):\n%s", diff)
	}
}

// TestRegionsBuildErrors: a region without children and an internal rule
// on a parallel state are *BuildErrors naming them, listed at once.
func TestRegionsBuildErrors(t *testing.T) {
	type r = Rule[mpState, mpEvent]
	_, err := NewBuilder[mpState, mpEvent](mPlayer).
		States(mPlayer, mPlayback, mPlaying, mVolume, mOff).
		Events(mToggle).
		Parallel(mPlayer, mPlayback, mVolume, mOff).
		Children(mPlayback, mPlaying).
		Rules(
			r{mPlayer, mToggle, Internal(mPlaying), ""},
			r{mPlaying, mToggle, Ignore[mpState](), "x"},
		).Build()
	var be *BuildError
	if !errors.As(err, &be) {
		t.Fatalf("Build = %v, want a *BuildError", err)
	}
	want := []string{
		"region Volume of Player has no initial child: a region is a composite state (declare its Children)",
		"region Off of Player has no initial child: a region is a composite state (declare its Children)",
		"rule Player × Toggle: internal transition on parallel state Player: its regions are all active, so none can be re-entered alone (use To)",
	}
	if diff := cmp.Diff(want, be.Problems); diff != "" {
		t.Errorf("problems (-want +got):\n%s", diff)
	}
}

// TestRegionsGolden draws the media player: Mermaid separates the regions
// with --, DOT clusters each, the matrix has a row per region leaf.
func TestRegionsGolden(t *testing.T) {
	d := mediaPlayer(t, nil, nil)
	for _, tt := range []struct {
		golden string
		write  func(io.Writer) error
	}{
		{"regions.mermaid.golden", d.WriteMermaid},
		{"regions.dot.golden", d.WriteDOT},
		{"regions.matrix.golden", d.WriteMatrix},
	} {
		t.Run(tt.golden, func(t *testing.T) {
			var got bytes.Buffer
			if err := tt.write(&got); err != nil {
				t.Fatal(err)
			}
			exportCheckGolden(t, filepath.Join("testdata", tt.golden), got.Bytes())
		})
	}
}
