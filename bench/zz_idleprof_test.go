package bench

import (
	"os"
	"runtime"
	"runtime/pprof"
	"testing"
)

func TestZZIdleProfile(t *testing.T) {
	kind := os.Getenv("IDLEPROF")
	if kind == "" {
		t.Skip()
	}
	runtime.MemProfileRate = 1
	p := startServerProcess(t)
	open := idleWsconn
	if kind == "raw" {
		open = idleRaw
	}
	var closers []func() error
	for range 500 {
		c, err := open(p.url + "echo")
		if err != nil {
			t.Fatal(err)
		}
		closers = append(closers, c)
	}
	runtime.GC()
	runtime.GC()
	f, _ := os.Create("/tmp/heap-" + kind + ".out")
	pprof.Lookup("heap").WriteTo(f, 0)
	f.Close()
	for _, c := range closers {
		c()
	}
}
