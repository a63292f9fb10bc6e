package loadgen

import (
	"context"
	"time"
)

// Restart is what a restart (Config.RestartAt) measured.
type Restart struct {
	At          float64 `json:"at"`           // seconds into the steady run the server went down
	DownSeconds float64 `json:"down_seconds"` // from down to up, measured
	Recovered   bool    `json:"recovered"`    // all N Alive again within recoverWait of up
	// RecoverSeconds runs from up until all N were Alive again,
	// Recover80Seconds until 80 % were; OutageSeconds from down.
	RecoverSeconds   float64 `json:"recover_seconds"`
	Recover80Seconds float64 `json:"recover80_seconds"`
	OutageSeconds    float64 `json:"outage_seconds"`
	// Dials are the clients' dial attempts (entries into Connecting) per
	// 100 ms from down until recovered, by the time each started; UpBucket
	// is the index of the first whole bucket after up. Accepts are the
	// server's newly accepted TCP connections at each read of its counter
	// (every 100 ms, or slower when the server is slow to answer), and
	// AcceptsAt the time of each read in seconds since down; the peak
	// accept rate is over the shortest spans of reads at least 1 s long.
	PeakDialsPer100ms   int       `json:"peak_dials_per_100ms"`
	PeakDialsPerSec     int       `json:"peak_dials_per_sec"` // the most in any 1 s (10 buckets)
	PeakUpDialsPer100ms int       `json:"peak_up_dials_per_100ms"`
	PeakUpDialsPerSec   int       `json:"peak_up_dials_per_sec"`
	PeakAcceptsPerSec   int       `json:"peak_accepts_per_sec"`
	UpBucket            int       `json:"up_bucket"`
	Dials               []int     `json:"dials_per_100ms"`
	Accepts             []int     `json:"accepts,omitempty"`
	AcceptsAt           []float64 `json:"accepts_at,omitempty"`
	Err                 string    `json:"error,omitempty"`
}

// runRestart takes the server down at steady+at, brings it up after downFor, and
// measures how long until all n clients are Alive again and how fast they
// dialled, in 100 ms buckets from down until then. It gives up waiting
// recoverWait after up, and always leaves the server up.
func runRestart(ctx context.Context, srv *server, cnt *counters, n int, steady time.Time, at, downFor time.Duration) *Restart {
	rs := &Restart{}
	if !sleepCtx(ctx, time.Until(steady.Add(at))) {
		rs.Err = "interrupted before the restart"
		return rs
	}
	acc0, canAccept := srv.accepted()
	down := time.Now()
	cnt.dialOrigin.Store(down.UnixNano())
	defer cnt.dialOrigin.Store(0)
	rs.At = down.Sub(steady).Seconds()
	if err := srv.down(); err != nil {
		// It may have gone down all the same: bring it back, or every
		// client would be left dialling nothing.
		rs.Err = err.Error()
		if err := srv.up(); err != nil {
			rs.Err += "; " + err.Error()
		}
		return rs
	}
	var upAt time.Time
	t := time.NewTicker(bucket)
	defer t.Stop()
	for {
		interrupted := false
		select {
		case <-ctx.Done():
			interrupted = true
		case <-t.C:
		}
		if canAccept {
			if a, ok := srv.accepted(); ok {
				rs.Accepts = append(rs.Accepts, int(a-acc0))
				rs.AcceptsAt = append(rs.AcceptsAt, time.Since(down).Seconds())
				acc0 = a
			}
		}
		now := time.Now()
		if upAt.IsZero() && (interrupted || now.Sub(down) >= downFor) {
			if err := srv.up(); err != nil {
				rs.Err = err.Error()
				return rs
			}
			upAt = time.Now()
			rs.DownSeconds = upAt.Sub(down).Seconds()
			rs.UpBucket = int((upAt.Sub(down) + bucket - 1) / bucket)
		}
		if interrupted {
			rs.Err = "interrupted"
			break
		}
		alive := cnt.alive.Load()
		if !upAt.IsZero() && now.After(upAt) && rs.Recover80Seconds == 0 && 5*alive >= 4*int64(n) {
			rs.Recover80Seconds = now.Sub(upAt).Seconds()
		}
		if !upAt.IsZero() && alive == int64(n) {
			rs.Recovered = true
			rs.RecoverSeconds = now.Sub(upAt).Seconds()
			rs.OutageSeconds = now.Sub(down).Seconds()
			break
		}
		if !upAt.IsZero() && now.Sub(upAt) > recoverWait {
			break
		}
	}
	// The buckets up to now, the last one partial.
	for i := range min(int(time.Since(down)/bucket)+1, len(cnt.dialBuckets)) {
		rs.Dials = append(rs.Dials, int(cnt.dialBuckets[i].Load()))
	}
	rs.PeakDialsPer100ms, rs.PeakDialsPerSec = peaks(rs.Dials)
	rs.PeakUpDialsPer100ms, rs.PeakUpDialsPerSec = peaks(rs.Dials[min(rs.UpBucket, len(rs.Dials)):])
	rs.PeakAcceptsPerSec = peakRate(rs.Accepts, rs.AcceptsAt)
	return rs
}

// peaks returns the largest bucket and the largest sum of 10 consecutive
// buckets (one second).
func peaks(buckets []int) (per100ms, perSec int) {
	sum := 0
	for i, b := range buckets {
		per100ms = max(per100ms, b)
		sum += b
		if i >= 10 {
			sum -= buckets[i-10]
		}
		perSec = max(perSec, sum)
	}
	return per100ms, perSec
}

// peakRate returns the highest rate of counts over spans of reads at least
// 1 s long: counts[i] arrived by at[i] (seconds), after at[i-1].
func peakRate(counts []int, at []float64) int {
	best := 0.0
	for i := range at {
		sum := 0
		for j := i + 1; j < len(at); j++ {
			sum += counts[j]
			if span := at[j] - at[i]; span >= 1 {
				best = max(best, float64(sum)/span)
				break
			}
		}
	}
	return int(best)
}
