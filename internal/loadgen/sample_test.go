package loadgen

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestSampleFill: a sample's percentages are of one core over the span
// since the previous sample, a figure unknown at either end (-1) is 0,
// and the scheduling latencies are the lower bounds of the buckets
// holding the 99th percentile and the largest wait of the span alone.
func TestSampleFill(t *testing.T) {
	bounds := schedBuckets()
	if len(bounds) < 10 {
		t.Fatalf("%d scheduling latency buckets, want a histogram", len(bounds))
	}
	p99, top := len(bounds)/2, len(bounds)/2+3
	before, after := make([]uint64, len(bounds)-1), make([]uint64, len(bounds)-1)
	before[top+1] = 7 // before the span: not the span's largest
	after[top+1] = 7
	after[p99] = 99
	after[top] = 1
	steady := time.Unix(1000, 0)
	prev := Sample{at: steady.Add(time.Second), cpu: 1, serverCPU: -1, gcCPU: 0.1, machineBusy: 10, sched: before}
	s := Sample{at: steady.Add(3 * time.Second), cpu: 2, serverCPU: 5, gcCPU: 0.3, machineBusy: 13, sched: after}
	s.fill(prev, steady)
	got := [7]float64{s.T, s.CPUPct, s.ServerPct, s.GCPct, s.MachinePct, s.SchedP99, s.SchedMax}
	want := [7]float64{3, 50, 0, 10, 150, bounds[p99] * 1000, bounds[top] * 1000}
	if diff := cmp.Diff(want, got, cmp.Comparer(func(a, b float64) bool { return a-b < 1e-9 && b-a < 1e-9 })); diff != "" {
		t.Errorf("[t cpu%% server%% gc%% machine%% p99 max] (-want +got):\n%s", diff)
	}
}

// TestGrowth compares the last sample with the first, once there are two.
func TestGrowth(t *testing.T) {
	tests := []struct {
		name    string
		samples []Sample
		want    *Growth
	}{
		{"none", nil, nil},
		{"one", []Sample{{T: 1, HeapLive: 100}}, nil},
		{"three", []Sample{{T: 1, HeapLive: 200, HeapInuse: 400, Goroutines: 10}, {T: 2, HeapLive: 900}, {T: 3, HeapLive: 100, HeapInuse: 500, Goroutines: 13}},
			&Growth{FromT: 1, ToT: 3, HeapLiveBytes: -100, HeapLivePct: -50, HeapInuseBytes: 100, Goroutines: 3}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, growth(tt.samples)); diff != "" {
				t.Errorf("growth (-want +got):\n%s", diff)
			}
		})
	}
}
