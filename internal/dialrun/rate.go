package dialrun

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ParseRate parses -rate's N/period: at most n writes per period. The
// period is a Go duration ("500ms", "1m") or a unit alone ("s", "m",
// "h"), which means one of it.
func ParseRate(v string) (n int, period time.Duration, err error) {
	count, per, ok := strings.Cut(v, "/")
	if !ok {
		return 0, 0, errors.New("want N/period, e.g. 5/s or 100/1m")
	}
	n, err = strconv.Atoi(count)
	if err != nil || n <= 0 {
		return 0, 0, fmt.Errorf("count %q is not a positive number", count)
	}
	switch per {
	case "s", "m", "h":
		per = "1" + per
	}
	period, err = time.ParseDuration(per)
	if err != nil || period <= 0 {
		return 0, 0, fmt.Errorf("period %q is not a positive duration", per)
	}
	return n, period, nil
}
