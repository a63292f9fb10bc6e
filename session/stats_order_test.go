package session

import (
	"sync"
	"testing"
)

// TestStatsCountBytesWithTheirMessages: a Stats snapshot taken while
// messages are counted never shows a message without its bytes, so a
// scrape that waited for a message's count also sees its bytes.
func TestStatsCountBytesWithTheirMessages(t *testing.T) {
	const n, size = 200_000, 5
	var c Client
	var wg sync.WaitGroup
	wg.Go(func() {
		for range n {
			c.stats.received(size)
			c.stats.sent(size)
		}
	})
	for {
		st := c.Stats()
		if st.BytesIn < size*st.MessagesIn || st.BytesOut < size*st.MessagesOut {
			t.Fatalf("Stats shows %d messages in with %d bytes, %d out with %d bytes: want %d bytes a message",
				st.MessagesIn, st.BytesIn, st.MessagesOut, st.BytesOut, size)
		}
		if st.MessagesOut == n {
			break
		}
	}
	wg.Wait()
}
