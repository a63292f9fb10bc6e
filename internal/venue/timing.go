package venue

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// Sleep waits d and reports false if ctx ended first.
func Sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// Tick calls send(1) every after it starts, send(2) every later, and so
// on, until send returns false or ctx ends. every <= 0 sends nothing.
func Tick(ctx context.Context, every time.Duration, send func(n int) bool) {
	if every <= 0 {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for n := 1; ; n++ {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !send(n) {
			return
		}
	}
}

// Hooks are what every venue's behaviour may do on a connection C
// receiving messages M.
type Hooks[C, M any] struct {
	// Start runs when the connection opens, before anything is read.
	Start func(c C)
	// Run runs from the start until ctx ends, on its own goroutine.
	Run func(ctx context.Context, c C)
	// Message handles a message received; true: taken, later handlers do
	// not see it.
	Message func(c C, m M) bool
}

// Launch runs every Start in order, then every Run on a goroutine of
// actors.
func Launch[C, M any](hooks []Hooks[C, M], ctx context.Context, c C, actors *sync.WaitGroup) {
	for _, h := range hooks {
		if h.Start != nil {
			h.Start(c)
		}
	}
	for _, h := range hooks {
		if h.Run != nil {
			actors.Go(func() { h.Run(ctx, c) })
		}
	}
}

// Offer hands m to the Message hooks in order, until one takes it.
func Offer[C, M any](hooks []Hooks[C, M], c C, m M) {
	for _, h := range hooks {
		if h.Message != nil && h.Message(c, m) {
			return
		}
	}
}

// Delay returns inner's hooks started d after the connection opens: its
// Start and Run then, its Message from then on, which on reports. d <= 0
// starts them at once.
func Delay[C, M any](d time.Duration, inner Hooks[C, M], on *atomic.Bool) Hooks[C, M] {
	h := Hooks[C, M]{Run: func(ctx context.Context, c C) {
		if !Sleep(ctx, d) {
			return
		}
		on.Store(true)
		if inner.Start != nil {
			inner.Start(c)
		}
		if inner.Run != nil {
			inner.Run(ctx, c)
		}
	}}
	if inner.Message != nil {
		h.Message = func(c C, m M) bool { return on.Load() && inner.Message(c, m) }
	}
	return h
}
