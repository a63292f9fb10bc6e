package e2e

import (
	"testing"

	"go.uber.org/goleak"
)

// Every server, proxy and client is stopped by its test's cleanup; toxiproxy
// links end when their connections close, so nothing needs ignoring.
func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }
