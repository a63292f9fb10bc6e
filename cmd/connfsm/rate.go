package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/connfsm/connfsm/internal/dialrun"
	"golang.org/x/time/rate"
)

// rateFlag is -rate N/period: at most N writes per period, evenly spaced
// (a burst of one), so that no window of the period ever holds more than
// N. The period is a Go duration ("500ms", "1m") or a unit alone ("s",
// "m", "h"), which means one of it.
type rateFlag struct {
	n      int
	period time.Duration
}

func (r *rateFlag) String() string {
	if r == nil || r.n == 0 {
		return ""
	}
	return fmt.Sprintf("%d/%v", r.n, r.period)
}

func (r *rateFlag) Set(v string) error {
	n, d, err := dialrun.ParseRate(v)
	r.n, r.period = n, d
	return err
}

// limiter returns the limiter -rate asks for, or nil without one.
func (r *rateFlag) limiter() *rate.Limiter {
	if r.n == 0 {
		return nil
	}
	return rate.NewLimiter(rate.Every(r.period/time.Duration(r.n)), 1)
}

// stringList is a repeatable flag keeping its values in order.
type stringList []string

func (s *stringList) String() string { return strings.Join(*s, ", ") }

func (s *stringList) Set(v string) error {
	if v == "" {
		return errors.New("empty")
	}
	*s = append(*s, v)
	return nil
}
