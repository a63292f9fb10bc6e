package dialrun

import (
	"testing"

	"go.uber.org/goleak"
)

// Run starts a client and a reader of stdin; neither may outlive it.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
