package session

import (
	"context"
	"log/slog"

	"github.com/connfsm/connfsm/fsm"
)

// observe feeds the user's observer and the logger.
func (c *Client) observe(ctx context.Context, r record) {
	if c.cfg.onRecord != nil {
		c.cfg.onRecord(ctx, r)
	}
	if c.probe != nil {
		c.probe.record(ctx, r)
	}
	l := c.cfg.logger
	if l == nil {
		return
	}
	switch r.Kind {
	case fsm.RecordTransition:
		attrs := []slog.Attr{slog.String("url", c.logURL()), slog.String("from", r.From.String()),
			slog.String("event", r.Event.String()), slog.String("to", r.To.String()), slog.Uint64("epoch", r.Epoch)}
		switch p := r.Payload.(type) {
		case *Wait:
			attrs = append(attrs, slog.String("waited", p.String()))
		case error:
			attrs = append(attrs, slog.String("cause", p.Error()))
		}
		l.LogAttrs(ctx, slog.LevelInfo, "session: transition", attrs...)
	case fsm.RecordTaskFailed:
		l.LogAttrs(ctx, slog.LevelDebug, "session: task failed", slog.String("url", c.logURL()),
			slog.String("state", r.From.String()), slog.String("task", r.Task), slog.String("err", r.Err.Error()))
	case fsm.RecordStraggler:
		l.LogAttrs(ctx, slog.LevelWarn, "session: task did not return in time", slog.String("url", c.logURL()),
			slog.String("state", r.From.String()), slog.String("task", r.Task), slog.Uint64("epoch", r.Epoch))
	case fsm.RecordStragglerReturned:
		attrs := []slog.Attr{slog.String("url", c.logURL()), slog.String("state", r.From.String()),
			slog.String("task", r.Task), slog.Uint64("epoch", r.Epoch)}
		if r.Err != nil {
			attrs = append(attrs, slog.String("err", r.Err.Error()))
		}
		l.LogAttrs(ctx, slog.LevelWarn, "session: task returned after its state was left", attrs...)
	case fsm.RecordRejected:
		l.LogAttrs(ctx, slog.LevelError, "session: event rejected", slog.String("url", c.logURL()),
			slog.String("state", r.From.String()), slog.String("event", r.Event.String()))
	case RecordSubscription:
		sr := r.Payload.(*SubscriptionRecord)
		attrs := []slog.Attr{slog.String("url", c.logURL()), slog.String("key", sr.Key), slog.String("step", sr.Kind.String()),
			slog.String("from", sr.From.String()), slog.String("event", sr.Event.String()), slog.String("to", sr.To.String())}
		if sr.Cause != nil {
			attrs = append(attrs, slog.String("cause", sr.Cause.Error()))
		}
		l.LogAttrs(ctx, slog.LevelDebug, "session: subscription", attrs...)
	case RecordDataPath:
		c.logDataPath(ctx, l, r)
	case fsm.RecordStale, fsm.RecordIgnored, fsm.RecordDropped:
		l.LogAttrs(ctx, slog.LevelDebug, "session: event "+r.Kind.String(), slog.String("url", c.logURL()),
			slog.String("state", r.From.String()), slog.String("event", r.Event.String()), slog.Uint64("epoch", r.Epoch))
	}
}

// logWait logs a wait before a dial as it starts: a long one (a
// Retry-After, the storm guard) says why at once, not when it ends.
func (c *Client) logWait(ctx context.Context, w *Wait) {
	if l := c.cfg.logger; l != nil {
		l.LogAttrs(ctx, slog.LevelInfo, "session: waiting before the next dial", slog.String("url", c.logURL()),
			slog.String("reason", w.Reason.String()), slog.Duration("delay", w.Delay),
			slog.Int("attempt", w.Failure.Attempt), slog.String("failure", w.Failure.Kind.String()))
	}
}
