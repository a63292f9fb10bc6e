package main

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

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
	count, per, ok := strings.Cut(v, "/")
	if !ok {
		return errors.New("want N/period, e.g. 5/s or 100/1m")
	}
	n, err := strconv.Atoi(count)
	if err != nil || n <= 0 {
		return fmt.Errorf("count %q is not a positive number", count)
	}
	switch per {
	case "s", "m", "h":
		per = "1" + per
	}
	d, err := time.ParseDuration(per)
	if err != nil || d <= 0 {
		return fmt.Errorf("period %q is not a positive duration", per)
	}
	r.n, r.period = n, d
	return nil
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
