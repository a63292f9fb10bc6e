package session

import "fmt"

// DefaultWriteLimit is the write limit when WithWriteLimit is not given:
// 1 MiB, what many venues accept at most (a larger message makes them
// drop the connection).
const DefaultWriteLimit = 1 << 20

// WithWriteLimit sets the largest message Send, Request and the session's
// Send accept, in bytes (default DefaultWriteLimit; -1 for no limit). A
// larger message fails with an error matching ErrMessageTooBig before
// anything is written or buffered: the venue would drop the connection
// for it.
func WithWriteLimit(n int64) Option { return func(c *config) { c.writeLimit = n } }

// checkOut checks a message to be sent: its type, and its size against
// the write limit.
func (c *Client) checkOut(typ MessageType, data []byte) error {
	if err := checkType(typ); err != nil {
		return err
	}
	if l := c.cfg.writeLimit; l >= 0 && int64(len(data)) > l {
		return fmt.Errorf("%w: %d bytes over the write limit of %d", ErrMessageTooBig, len(data), l)
	}
	return nil
}
