package loadgen

import "fmt"

// RaiseFileLimit raises the open-file limit as far as allowed, for a run
// of clients connections. Its error says why it could not, or warns that
// the limit is below what the clients need (one socket each, two with the
// embedded venue, and some to spare).
func RaiseFileLimit(clients int) error {
	limit, err := raiseFileLimit()
	if err != nil {
		return err
	}
	if need := uint64(clients) + 64; limit > 0 && limit < need {
		return fmt.Errorf("warning: the open-file limit %d is below the %d clients need", limit, need)
	}
	return nil
}
