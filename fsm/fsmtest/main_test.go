package fsmtest_test

import (
	"testing"

	"go.uber.org/goleak"
)

// Check starts real machines; none of their goroutines may outlive a test.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
