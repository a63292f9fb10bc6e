package loadgen

import (
	"bytes"
	"compress/gzip"
	"errors"
	"flag"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestRunProfiles: a run with Profiles writes a heap profile and a CPU
// profile that pprof reads (gzip-compressed protocol buffers naming their
// sample types), at the sampling rate asked for.
func TestRunProfiles(t *testing.T) {
	if inChild(t) {
		return
	}
	dir := t.TempDir()
	mem, cpu := filepath.Join(dir, "heap.pprof"), filepath.Join(dir, "cpu.pprof")
	cfg := Config{N: 5, Duration: 300 * time.Millisecond, Ping: 20 * time.Millisecond, Pong: time.Second,
		SendEvery: 50 * time.Millisecond, Sample: time.Hour, DownFor: time.Second, DialRate: 1000, GOGC: DefaultGOGC,
		Profiles: Profiles{Mem: mem, CPU: cpu, MemRate: 512}}
	r, err := Run(t.Context(), cfg, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if r.Alive != 5 || r.Closed != 5 {
		t.Errorf("alive %d, closed %d; want 5 and 5", r.Alive, r.Closed)
	}
	if runtime.MemProfileRate != 512 {
		t.Errorf("runtime.MemProfileRate = %d, want 512", runtime.MemProfileRate)
	}
	for _, p := range []struct {
		path string
		has  []string // in the profile's string table
	}{
		// The wsconn clients were open: their Dial's allocations are in it.
		{mem, []string{"inuse_space", "alloc_space", "bytes", "wsconn.Dial"}},
		{cpu, []string{"samples", "cpu", "nanoseconds"}},
	} {
		raw, err := os.ReadFile(p.path)
		if err != nil {
			t.Fatal(err)
		}
		if len(raw) < 2 || raw[0] != 0x1f || raw[1] != 0x8b {
			t.Errorf("%s: %d bytes, not gzip", filepath.Base(p.path), len(raw))
			continue
		}
		zr, err := gzip.NewReader(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(p.path), err)
		}
		body, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("%s: %v", filepath.Base(p.path), err)
		}
		for _, s := range p.has {
			if !bytes.Contains(body, []byte(s)) {
				t.Errorf("%s (%d bytes) does not name %q", filepath.Base(p.path), len(body), s)
			}
		}
	}
}

// TestRunProfileUnwritable: a profile that cannot be created stops the
// run before any client starts, naming the file.
func TestRunProfileUnwritable(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "missing", "heap.pprof")
	cfg := Config{N: 5, Duration: time.Hour, Ping: time.Second, Pong: time.Second, SendEvery: time.Second,
		Sample: time.Hour, DownFor: time.Second, DialRate: 1000, GOGC: DefaultGOGC, Profiles: Profiles{Mem: bad}}
	start := time.Now()
	r, err := Run(t.Context(), cfg, io.Discard)
	if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), bad) {
		t.Errorf("Run = %v, want a not-exist error naming %s", err, bad)
	}
	if r.N != 0 || time.Since(start) > 5*time.Second {
		t.Errorf("Run ran (report %+v, %v): want no run", r, time.Since(start))
	}
}

// TestProfileFlags: the flags set Profiles; -memprofilerate takes only a
// positive number of bytes.
func TestProfileFlags(t *testing.T) {
	tests := []struct {
		args    []string
		want    Profiles
		wantErr string
	}{
		{nil, Profiles{}, ""},
		{[]string{"-memprofile", "m", "-memprofilerate", "4096", "-cpuprofile", "c"}, Profiles{Mem: "m", MemRate: 4096, CPU: "c"}, ""},
		{[]string{"-memprofilerate", "0"}, Profiles{}, `want a positive number of bytes, got "0"`},
		{[]string{"-memprofilerate", "-5"}, Profiles{}, `want a positive number of bytes, got "-5"`},
		{[]string{"-memprofilerate", "4k"}, Profiles{}, `want a positive number of bytes, got "4k"`},
	}
	for _, tt := range tests {
		var p Profiles
		fs := flag.NewFlagSet("load", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		p.Flags(fs)
		err := fs.Parse(tt.args)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%q: error %v, want %q", tt.args, err, tt.wantErr)
		}
		if diff := cmp.Diff(tt.want, p); diff != "" {
			t.Errorf("%q (-want +got):\n%s", tt.args, diff)
		}
	}
}
