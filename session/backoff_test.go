package session

import (
	"math"
)

// justBelowOne is the largest float64 below 1: the top of rnd's range.
var justBelowOne = math.Nextafter(1, 0)

func fixedRnd(v float64) func() float64 { return func() float64 { return v } }
