// Package retry decides when a client of package session dials again.
//
// After every failure the client asks one Policy whether to dial again,
// and after how long. The policy sees what failed: a Failure, with its
// FailureKind, the HTTP status and Retry-After of a refused handshake, or
// the code and reason of a close frame, and the attempt number. Its answer
// is a Decision. A policy that leaves a failure alone returns
// Failure.Default, the client's default decision.
//
// The default decision gives up on permanent failures (DefaultClassifier)
// and on a spent attempt budget (Backoff.MaxAttempts). Otherwise it waits
// the Backoff's delay. OutageBounded, the default mode, sets the dials by
// the length of the outage, so a client is back soon after its venue.
//
// Two guards sit beside the policy. A StormGuard spaces the dials of one
// client that keeps failing. A DialBudget is a DialGate shared by many
// clients: at most so many dials per window, as venues count them.
//
// Package session sets these with its options: WithRetryPolicy,
// WithBackoff, WithPermanentCloseCodes, WithStormGuard and WithDialGate.
package retry
