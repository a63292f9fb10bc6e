package venue

import (
	"context"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestPlansPick(t *testing.T) {
	p := NewPlans([][]string{{"s1"}, {"s2"}}, []string{"def"})
	p.Next([]string{"q1"})
	p.Next([]string{"q2"})
	choose := func(n int) []string {
		if n == 6 {
			return []string{"chosen"}
		}
		return nil
	}
	var got [][]string
	var nums []int
	for range 7 {
		n, plan := p.Pick(choose)
		nums = append(nums, n)
		got = append(got, plan)
		if n == 4 {
			p.SetDefault([]string{"def2"})
		}
	}
	want := [][]string{{"s1"}, {"s2"}, {"q1"}, {"q2"}, {"def2"}, {"chosen"}, {"def2"}}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("plans (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]int{1, 2, 3, 4, 5, 6, 7}, nums); diff != "" {
		t.Errorf("numbers (-want +got):\n%s", diff)
	}
}

func TestClonePlans(t *testing.T) {
	type plan []string
	in := []plan{{"a"}, {"b", "c"}}
	out := Clone(in)
	in[0][0] = "changed"
	if diff := cmp.Diff([][]string{{"a"}, {"b", "c"}}, out); diff != "" {
		t.Errorf("Clone (-want +got):\n%s", diff)
	}
}

// testConn is a connection numbered n whose record is 10n.
type testConn struct{ n int }

func (c *testConn) N() int      { return c.n }
func (c *testConn) Record() int { return 10 * c.n }

func TestRegistry(t *testing.T) {
	tests := []struct {
		name        string
		forget      bool
		wantLive    []int
		wantRecords []int
		wantFound   bool
		wantRecord  int
	}{
		{"recording", false, []int{1, 3}, []int{10, 20, 30, 40}, true, 20},
		{"not recording", true, []int{1, 3}, []int{10, 30, 40}, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var r Registry[*testConn, int]
			conns := []*testConn{{1}, {2}, {3}, {4}}
			for _, c := range conns {
				r.Add(c)
			}
			r.Open(conns[0])
			r.Open(conns[1])
			r.Open(conns[2])
			r.End(conns[1], tt.forget) // 4 never opens
			var live []int
			for _, c := range r.Live() {
				live = append(live, c.n)
			}
			if diff := cmp.Diff(tt.wantLive, live); diff != "" {
				t.Errorf("Live (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantRecords, r.Records()); diff != "" {
				t.Errorf("Records (-want +got):\n%s", diff)
			}
			got, found := r.Record(2)
			if diff := cmp.Diff([2]any{tt.wantFound, tt.wantRecord}, [2]any{found, got}); diff != "" {
				t.Errorf("Record(2) [found, record] (-want +got):\n%s", diff)
			}
		})
	}
}

func TestChangesAwait(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var ch Changes
		var n atomic.Int64
		done := make(chan error, 1)
		go func() { done <- ch.Await(t.Context(), func() bool { return n.Load() >= 2 }) }()
		for range 2 {
			synctest.Wait()
			n.Add(1)
			ch.Notify()
		}
		if err := <-done; err != nil {
			t.Fatalf("Await: %v", err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		err := ch.Await(ctx, func() bool { return false })
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Await after the deadline: %v, want context.DeadlineExceeded", err)
		}
	})
}

func TestSleepAndTick(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		start := time.Now()
		if !Sleep(t.Context(), 3*time.Second) || time.Since(start) != 3*time.Second {
			t.Errorf("Sleep(3s) returned after %v", time.Since(start))
		}
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		if Sleep(ctx, time.Second) || Sleep(ctx, 0) {
			t.Error("Sleep on an ended context reported true")
		}
		var at []time.Duration
		start = time.Now()
		Tick(t.Context(), time.Second, func(n int) bool {
			at = append(at, time.Since(start))
			return n < 3
		})
		if diff := cmp.Diff([]time.Duration{time.Second, 2 * time.Second, 3 * time.Second}, at); diff != "" {
			t.Errorf("Tick (-want +got):\n%s", diff)
		}
		Tick(t.Context(), 0, func(int) bool { t.Error("Tick with every 0 sent"); return false })
	})
}

func TestDelayLaunchOffer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var mu sync.Mutex
		var got []string
		log := func(s string) { mu.Lock(); got = append(got, s); mu.Unlock() }
		inner := Hooks[string, string]{
			Start:   func(c string) { log("start " + c) },
			Run:     func(_ context.Context, c string) { log("run " + c) },
			Message: func(_ string, m string) bool { log("inner " + m); return true },
		}
		var on atomic.Bool
		hooks := []Hooks[string, string]{
			Delay(2*time.Second, inner, &on),
			{Message: func(_ string, m string) bool { log("last " + m); return true }},
		}
		ctx, cancel := context.WithCancel(t.Context())
		var actors sync.WaitGroup
		Launch(hooks, ctx, "c", &actors)
		Offer(hooks, "c", "early") // before the delay: the inner hook passes
		time.Sleep(3 * time.Second)
		synctest.Wait()
		Offer(hooks, "c", "late") // after it: the inner hook takes it
		cancel()
		actors.Wait()
		want := []string{"last early", "start c", "run c", "inner late"}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("hooks (-want +got):\n%s", diff)
		}
	})
}

func TestRecipe(t *testing.T) {
	var zero Recipe[int]
	n := 0
	fresh := NewRecipe("Fresh", func() int { n++; return n })
	tests := []struct {
		name     string
		r        Recipe[int]
		wantZero bool
		wantName string
		wantMake []int
	}{
		{"zero", zero, true, "none", []int{0, 0}},
		{"fixed", Fixed("Fixed", 7), false, "Fixed", []int{7, 7}},
		{"fresh", fresh, false, "Fresh", []int{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := []int{tt.r.Make(), tt.r.Make()}
			if diff := cmp.Diff(tt.wantMake, got); diff != "" {
				t.Errorf("Make (-want +got):\n%s", diff)
			}
			if tt.r.IsZero() != tt.wantZero || tt.r.String() != tt.wantName {
				t.Errorf("IsZero %v, String %q; want %v, %q", tt.r.IsZero(), tt.r.String(), tt.wantZero, tt.wantName)
			}
		})
	}
}

func TestPlayAndTexts(t *testing.T) {
	plan := []Recipe[string]{Fixed("a", "a"), {}, Fixed("b", "b")}
	parts, hooks := Play(plan, func(r Recipe[string]) Recipe[string] { return r },
		func(p string) Hooks[int, string] { return Hooks[int, string]{} })
	if diff := cmp.Diff([]string{"a", "b"}, parts); diff != "" {
		t.Errorf("Play parts (-want +got):\n%s", diff)
	}
	if len(hooks) != 2 {
		t.Errorf("Play made %d hooks, want 2", len(hooks))
	}
	got := Texts([][]byte{[]byte("x"), []byte("yz")}, func(b []byte) []byte { return b })
	if diff := cmp.Diff([]string{"x", "yz"}, got); diff != "" {
		t.Errorf("Texts (-want +got):\n%s", diff)
	}
}

func TestListenTCP(t *testing.T) {
	ln, err := ListenTCP("test", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	if port < 20000 || port >= 32000 {
		t.Errorf("port %d, want one in [20000, 32000)", port)
	}
	if _, err := ListenTCP("test", "no port"); err == nil || err.Error()[:6] != "test: " {
		t.Errorf("ListenTCP(%q) = %v, want an error prefixed test:", "no port", err)
	}
}

func TestGate(t *testing.T) {
	errClosed := errors.New("closed")
	errListen := errors.New("listen failed")
	type result struct {
		Err          error
		Reopened     bool
		Shut, Closed bool
	}
	tests := []struct {
		name   string
		steps  func(g *Gate)
		reopen error
		want   result
	}{
		{"up: Up does nothing", func(*Gate) {}, nil, result{}},
		{"down: Up reopens", (*Gate).Down, nil, result{Reopened: true}},
		{"down, reopen fails: stays down", (*Gate).Down, errListen, result{Err: errListen, Reopened: true, Shut: true}},
		{"closed: Up refuses", (*Gate).Close, nil, result{Err: errClosed, Shut: true, Closed: true}},
		{"down then closed: Up refuses", func(g *Gate) { g.Down(); g.Close() }, nil, result{Err: errClosed, Shut: true, Closed: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var g Gate
			tt.steps(&g)
			var got result
			got.Err = g.Up(errClosed, func() error { got.Reopened = true; return tt.reopen })
			got.Shut, got.Closed = g.Shut(), g.Closed()
			if diff := cmp.Diff(tt.want, got, cmpopts.EquateErrors()); diff != "" {
				t.Errorf("after Up (-want +got):\n%s", diff)
			}
		})
	}
}

func TestCountersLoad(t *testing.T) {
	var c Counters
	c.Accepted.Add(3)
	c.Refused.Add(1)
	c.Open.Add(2)
	c.Received.Add(5)
	c.Sent.Add(4)
	c.Open.Add(-1)
	if diff := cmp.Diff(Counts{Accepted: 3, Refused: 1, Open: 1, Received: 5, Sent: 4}, c.Load()); diff != "" {
		t.Errorf("Load (-want +got):\n%s", diff)
	}
}
