package venue

import "sync/atomic"

// Counters are what every venue counts, kept even when it does not
// record. The zero value is ready to use; its fields are safe for
// concurrent use.
type Counters struct {
	Accepted, Refused, Open, Received, Sent atomic.Int64
}

// Counts is what Counters held at one moment. A venue's Stats with the
// same fields in the same order converts from it.
type Counts struct {
	Accepted, Refused, Open, Received, Sent int64
}

// Load returns the counts now.
func (c *Counters) Load() Counts {
	return Counts{
		Accepted: c.Accepted.Load(),
		Refused:  c.Refused.Load(),
		Open:     c.Open.Load(),
		Received: c.Received.Load(),
		Sent:     c.Sent.Load(),
	}
}
