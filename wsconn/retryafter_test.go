package wsconn

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	date := func(d time.Duration) string { return now.Add(d).Format(http.TimeFormat) }
	tests := []struct {
		header string
		want   time.Duration
	}{
		{"", 0},
		{"0", 0},
		{"1", time.Second},
		{"120", 2 * time.Minute},
		{"86400", 24 * time.Hour},
		{"86401", 24 * time.Hour},                // capped: a typo must not park the client for years
		{"9223372036854775807", 24 * time.Hour},  // largest int64, capped
		{"99999999999999999999", 24 * time.Hour}, // beyond int64: capped like any huge value
		{"-5", 0},                                // negative: ignored
		{"1.5", 0},                               // not delay-seconds
		{"soon", 0},                              // garbage
		{date(90 * time.Second), 90 * time.Second},              // HTTP date in the future
		{date(-time.Hour), 0},                                   // HTTP date in the past
		{now.Format(http.TimeFormat), 0},                        // HTTP date now
		{date(72 * time.Hour), 24 * time.Hour},                  // far future date, capped
		{now.Add(time.Minute).Format(time.RFC850), time.Minute}, // obsolete date formats are accepted too
		{now.Add(time.Minute).Format(time.ANSIC), time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			if got := retryAfter(tt.header, now); got != tt.want {
				t.Errorf("retryAfter(%q) = %v, want %v", tt.header, got, tt.want)
			}
		})
	}
}
