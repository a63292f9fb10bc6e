package subscription

import (
	"testing"

	"go.uber.org/goleak"
)

// A machine may hand its queue to a goroutine of its own (Post, a Fire
// from inside): none may outlive the tests.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
