package loadgen

import (
	"fmt"
	"io"
)

// PoolReport is what the pool mode measured (Report.Pool).
type PoolReport struct {
	Subscriptions int    `json:"subscriptions"`
	PerConn       int    `json:"per_conn"`
	MaxConns      int    `json:"max_conns"`
	DialBudget    string `json:"dial_budget"`     // the pool's, "300/5m0s" or "none"
	VenueBudget   string `json:"venue_budget"`    // the venue's
	Batch         int    `json:"batch,omitempty"` // keys per subscribe message; 0: one each
	Rate          int    `json:"rate,omitempty"`  // messages a second per connection; 0: no pacing
	Conns         int    `json:"conns"`           // connections the pool opened
	Ready         int    `json:"ready"`           // Ready at the end
	// VenueSubscriptions is the number of keys subscribed on the venue's
	// open connections at the end, VenueDuplicates of those subscribed on
	// more than one: Subscriptions and 0 when every subscription is back,
	// once.
	VenueSubscriptions int `json:"venue_subscriptions"`
	VenueDuplicates    int `json:"venue_duplicates"`
	// StartSeconds runs from NewPool until every subscription was active
	// at the venue; 0 if they never all were before the steady run.
	StartSeconds float64 `json:"start_seconds"`
	// DialAttempts counts the pool's dial attempts, the first dials and
	// those refused while the venue was down included;
	// BudgetAdmitted the dials the budget let through; Handshakes the
	// handshake requests the venue saw, Refused those it refused for its
	// budget (429). MaxHandshakesPerWindow is the most handshakes the
	// venue saw within any Window (the budget's).
	DialAttempts           int    `json:"dial_attempts"`
	BudgetAdmitted         uint64 `json:"budget_admitted,omitempty"`
	Handshakes             int    `json:"handshakes"`
	Refused                int    `json:"refused_429"`
	Window                 string `json:"window,omitempty"`
	MaxHandshakesPerWindow int    `json:"max_handshakes_per_window"`
	GateWaits              int    `json:"gate_waits"` // redials the budget held longer than their backoff
	// HeapPerSub is the heap in use at the end, less that before the
	// pool, per subscription: the pool's, and the embedded venue's record
	// of each.
	HeapPerSub float64      `json:"heap_per_sub"`
	Restart    *PoolRestart `json:"restart,omitempty"`
}

// PoolRestart is what a restart measured in pool mode.
type PoolRestart struct {
	At          float64 `json:"at"`           // seconds into the steady run the venue went down
	DownSeconds float64 `json:"down_seconds"` // from down to up, measured
	// Recovered: every connection Ready and every subscription active at
	// the venue again; RecoverSeconds from up, OutageSeconds from down.
	Recovered      bool    `json:"recovered"`
	RecoverSeconds float64 `json:"recover_seconds"`
	OutageSeconds  float64 `json:"outage_seconds"`
	Handshakes     int     `json:"handshakes"` // the venue saw from down until recovered
	// CPUSeconds is the process's CPU from up until recovered: the
	// resubscribe's (and the embedded venue's share of it).
	CPUSeconds float64 `json:"cpu_seconds"`
	// SubscribeMessages are the subscribe messages the venue got from down
	// until recovered, SubscribeKeys the keys they asked for: every
	// subscription once, unless a connection was lost again meanwhile.
	SubscribeMessages int `json:"subscribe_messages"`
	SubscribeKeys     int `json:"subscribe_keys"`
	// Missing counts the subscriptions not active at the venue once
	// recovered (or when the wait gave up); Duplicated those subscribed on
	// two connections, plus the subscribes the venue got for a key its
	// connection already had (in the whole run). Both must be 0.
	Missing    int    `json:"missing"`
	Duplicated int    `json:"duplicated"`
	Err        string `json:"error,omitempty"`
}

// Problems returns what the run found wrong: a subscription missing at the
// venue or on two connections, a connection not Ready, the venue's window
// holding more handshakes than the pool's budget, a handshake refused for
// the venue's budget, a restart not recovered from.
func (p *PoolReport) Problems(budget Budget) []string {
	var out []string
	if p.VenueSubscriptions != p.Subscriptions || p.VenueDuplicates > 0 {
		out = append(out, fmt.Sprintf("%d of %d subscriptions active at the venue, %d on two connections or more",
			p.VenueSubscriptions, p.Subscriptions, p.VenueDuplicates))
	}
	if p.Ready != p.Conns {
		out = append(out, fmt.Sprintf("%d of %d connections Ready", p.Ready, p.Conns))
	}
	if budget.Dials > 0 && p.MaxHandshakesPerWindow > budget.Dials {
		out = append(out, fmt.Sprintf("%d handshakes within %s, over the budget of %d", p.MaxHandshakesPerWindow, p.Window, budget.Dials))
	}
	if p.Refused > 0 {
		out = append(out, fmt.Sprintf("the venue refused %d handshakes for its budget", p.Refused))
	}
	if rs := p.Restart; rs != nil && !rs.Recovered {
		out = append(out, "not every subscription was back after the restart: "+rs.Err)
	}
	if rs := p.Restart; rs != nil && (rs.Missing > 0 || rs.Duplicated > 0) {
		out = append(out, fmt.Sprintf("after the restart the venue missed %d subscriptions and saw %d duplicated", rs.Missing, rs.Duplicated))
	}
	return out
}

// printPool writes the pool mode's part of the report.
func printPool(w io.Writer, p *PoolReport) {
	fmt.Fprintf(w, "  pool               %d subscriptions, %d per connection (at most %d connections): %d connections, %d Ready\n",
		p.Subscriptions, p.PerConn, p.MaxConns, p.Conns, p.Ready)
	fmt.Fprintf(w, "  at the venue       %d/%d subscriptions active, %d on two connections\n",
		p.VenueSubscriptions, p.Subscriptions, p.VenueDuplicates)
	if p.StartSeconds > 0 {
		fmt.Fprintf(w, "  start              every subscription active %.2fs after NewPool\n", p.StartSeconds)
	} else {
		fmt.Fprintln(w, "  start              NOT every subscription active when the wait for them ended")
	}
	batch := "one key per subscribe message"
	if p.Batch > 0 {
		batch = fmt.Sprintf("up to %d keys per subscribe message", p.Batch)
	}
	if p.Rate > 0 {
		batch += fmt.Sprintf(", %d messages a second per connection", p.Rate)
	}
	fmt.Fprintf(w, "  heap/subscription  %.0f B (the pool's and the venue's), %s\n", p.HeapPerSub, batch)
	fmt.Fprintf(w, "  dials              budget %s (venue %s): %d attempts, %d handshakes, %d refused with 429",
		p.DialBudget, p.VenueBudget, p.DialAttempts, p.Handshakes, p.Refused)
	if p.Window != "" {
		fmt.Fprintf(w, "; at most %d within %s", p.MaxHandshakesPerWindow, p.Window)
	}
	fmt.Fprintf(w, "; %d redials held by the budget\n", p.GateWaits)
	if rs := p.Restart; rs != nil {
		fmt.Fprintf(w, "  restart            down at %.1fs for %.1fs", rs.At, rs.DownSeconds)
		if rs.Recovered {
			fmt.Fprintf(w, "; every subscription back %.2fs after up (%.2fs after down), %d handshakes\n",
				rs.RecoverSeconds, rs.OutageSeconds, rs.Handshakes)
		} else {
			fmt.Fprintf(w, "; NOT every subscription back: %s\n", rs.Err)
		}
		fmt.Fprintf(w, "  after restart      %d subscriptions missing, %d duplicated, as the venue saw them; %d keys in %d subscribe messages; %.2fs of CPU from up until back\n",
			rs.Missing, rs.Duplicated, rs.SubscribeKeys, rs.SubscribeMessages, rs.CPUSeconds)
	}
}
