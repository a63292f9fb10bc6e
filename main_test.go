package connfsm

import (
	"testing"

	"go.uber.org/goleak"
)

// The tests start machines whose tasks are goroutines; none may outlive them.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
