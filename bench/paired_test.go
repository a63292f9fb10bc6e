package bench

import (
	"context"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// The paired benchmarks run a client and its raw baseline in one loop,
// taking turns in blocks of ops (pairedBlock), over two connections to the
// same server process opened before either is measured. Whatever drifts
// during a run (the server warming up, the machine's other load, the
// clock speed) falls on both sides alike, where the side-by-side
// benchmarks (BenchmarkSend, BenchmarkLineEcho) measure one client after
// the other and give the drift to whichever runs later. Each reports
// base-ns/op (raw), client-ns/op and their ratio base/client, the figure
// the goals name: 1 when the client costs nothing, below 1 when it is
// slower. The "raw" pair is raw against a second raw connection: a
// control, whose ratio shows what the method itself adds.

// pairedBlock is how many ops one side runs before the other takes its
// turn: enough that the switch is rare, few enough that a run of a
// second alternates dozens of times. A one-way send of n bytes runs
// more: a side's turn should outlast what the other left in the socket
// buffers (a few megabytes at most), which the server drains meanwhile.
func pairedBlock(n int, echo bool) int {
	if echo {
		return 128
	}
	return min(4096, max(128, 4<<20/n))
}

// pairTally times the sides of a pair, which take turns every block ops.
type pairTally struct {
	now     func() time.Time
	block   int
	spent   [2]time.Duration
	ops     [2]int
	side    int // whose turn it is
	inBlock int // ops of the current turn so far
	start   time.Time
}

func newPairTally(now func() time.Time, block int) *pairTally {
	return &pairTally{now: now, block: block, start: now()}
}

// done counts one op of the current side's, and hands the turn over at
// the end of its block.
func (t *pairTally) done() {
	t.ops[t.side]++
	if t.inBlock++; t.inBlock == t.block {
		t.switchSides()
	}
}

func (t *pairTally) switchSides() {
	now := t.now()
	t.spent[t.side] += now.Sub(t.start)
	t.start = now
	t.side, t.inBlock = 1-t.side, 0
}

// perOp returns each side's mean time per op, 0 for a side with none.
func (t *pairTally) perOp() (base, client float64) {
	if t.inBlock > 0 {
		t.switchSides() // the turn the loop ended in
	}
	mean := func(i int) float64 {
		if t.ops[i] == 0 {
			return 0
		}
		return float64(t.spent[i]) / float64(t.ops[i])
	}
	return mean(0), mean(1)
}

// pairedLoop runs op on base and on other in turns, one op per b.Loop
// iteration, and reports each side's time per op and their ratio.
// Before the loop, each side runs a turn unmeasured.
func pairedLoop(b *testing.B, base, other client, msg []byte, echo bool) {
	ctx := context.Background()
	sides := [2]client{base, other}
	op := func(c client) {
		if err := c.send(ctx, msg); err != nil {
			b.Fatal(err)
		}
		if echo {
			if got := <-c.recv; len(got) != len(msg) {
				b.Fatalf("echo of %d bytes, want %d", len(got), len(msg))
			}
		}
	}
	block := pairedBlock(len(msg), echo)
	for _, c := range sides {
		for range block {
			op(c)
		}
	}
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	cpu := startCPU()
	tally := newPairTally(time.Now, block)
	for b.Loop() {
		op(sides[tally.side])
		tally.done()
		cpu.ops++
	}
	cpu.report(b)
	bns, cns := tally.perOp()
	if bns > 0 && cns > 0 {
		b.ReportMetric(bns, "base-ns/op")
		b.ReportMetric(cns, "client-ns/op")
		b.ReportMetric(bns/cns, "base/client")
	}
}

// dialPair dials base and other to url in a random order: whatever the
// order does (the connection the server or the runtime favours) falls on
// either side alike over many runs.
func dialPair(b *testing.B, base, other func(testing.TB, string) client, url string) (client, client) {
	if rand.IntN(2) == 0 {
		bc := base(b, url)
		return bc, other(b, url)
	}
	oc := other(b, url)
	return base(b, url), oc
}

// BenchmarkPairedSend is BenchmarkSend paired: raw coder/websocket
// against wsconn, and against itself.
func BenchmarkPairedSend(b *testing.B) {
	p := startServerProcess(b)
	for _, sz := range sizes {
		for _, d := range []dialer{{name: "raw", dial: dialRaw}, {name: "wsconn", dial: dialWsconn}} {
			b.Run(sz.name+"/"+d.name, func(b *testing.B) {
				base, other := dialPair(b, dialRaw, d.dial, p.url+"discard")
				pairedLoop(b, base, other, payload(sz.n), false)
			})
		}
	}
}

// BenchmarkPairedEcho is BenchmarkEcho paired: a 1 KiB round trip, raw
// coder/websocket against wsconn, and against itself.
func BenchmarkPairedEcho(b *testing.B) {
	p := startServerProcess(b)
	for _, d := range []dialer{{name: "raw", dial: dialRaw}, {name: "wsconn", dial: dialWsconn}} {
		b.Run(d.name, func(b *testing.B) {
			base, other := dialPair(b, dialRaw, d.dial, p.url+"echo")
			pairedLoop(b, base, other, payload(1<<10), true)
		})
	}
}

// BenchmarkPairedLineEcho is BenchmarkLineEcho paired: a raw net.Conn
// with bufio against tcpconn, and against itself.
func BenchmarkPairedLineEcho(b *testing.B) {
	p := startChild(b, "TestTCPServerProcess", tcpServerEnv, "tcp://")
	for _, sz := range sizes {
		for _, d := range lineDialers {
			b.Run(sz.name+"/"+d.name, func(b *testing.B) {
				base, other := dialPair(b, dialLineRaw, d.dial, p.url)
				pairedLoop(b, base, other, payload(sz.n), true)
			})
		}
	}
}

// TestPairTally checks the paired benchmarks' arithmetic on a clock that
// only the ops move: the sides take turns every block ops, each is
// charged its own ops' time, and the turn the loop ends in counts.
func TestPairTally(t *testing.T) {
	const baseOp, clientOp = 2 * time.Microsecond, 3 * time.Microsecond
	for _, tc := range []struct {
		name      string
		block, n  int
		wantSides string // whose turn each op was
		wantOps   [2]int
	}{
		{"one op", 4, 1, "b", [2]int{1, 0}},
		{"one block", 4, 4, "bbbb", [2]int{4, 0}},
		{"mid-turn", 4, 10, "bbbbccccbb", [2]int{6, 4}},
		{"whole turns", 2, 8, "bbccbbcc", [2]int{4, 4}},
		{"block of one", 1, 5, "bcbcb", [2]int{3, 2}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var clock time.Time
			tally := newPairTally(func() time.Time { return clock }, tc.block)
			var sides []byte
			for range tc.n {
				sides = append(sides, "bc"[tally.side])
				clock = clock.Add([2]time.Duration{baseOp, clientOp}[tally.side])
				tally.done()
			}
			base, client := tally.perOp()
			type result struct {
				Sides        string
				Ops          [2]int
				Base, Client float64
			}
			want := result{tc.wantSides, tc.wantOps, float64(baseOp), float64(clientOp)}
			if tc.wantOps[1] == 0 {
				want.Client = 0
			}
			if diff := cmp.Diff(want, result{string(sides), tally.ops, base, client}); diff != "" {
				t.Errorf("tally (-want +got):\n%s", diff)
			}
		})
	}
}
