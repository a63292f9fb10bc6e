package session

import (
	"io"

	"github.com/connfsm/connfsm/session/transport"
)

// messageChecker is a Transport that refuses, before any write, the
// payloads its wire format cannot carry.
type messageChecker interface {
	CheckMessage(typ transport.MessageType, p []byte) error
}

// checkMessage returns tr's error for a message it cannot carry, if tr
// tells.
func checkMessage(tr transport.Transport, typ transport.MessageType, p []byte) error {
	if ck, ok := tr.(messageChecker); ok {
		return ck.CheckMessage(typ, p)
	}
	return nil
}

// textOr returns t, or Text for 0, which options read as Text; false when
// t is neither Text nor Binary.
func textOr(t transport.MessageType) (transport.MessageType, bool) {
	switch t {
	case 0:
		return transport.Text, true
	case transport.Text, transport.Binary:
		return t, true
	}
	return t, false
}

// readWhole takes a message whose reader gives up its buffer (Take), or
// copies one whose reader holds it whole (Conn.Reader) in one step: one
// allocation, the message's size, and none of the zeroing or growth of
// reading it, which matter for large messages. ok is false for a reader
// that does not hold it so.
func readWhole(r io.Reader) (b []byte, ok bool) {
	w, ok := r.(interface{ Bytes() []byte })
	if !ok {
		return nil, false
	}
	if t, ok := r.(interface{ Take() []byte }); ok {
		if b = t.Take(); b != nil {
			return b, true // the Conn gave it up: no copy
		}
	}
	if b = append([]byte(nil), w.Bytes()...); b == nil {
		b = []byte{} // an empty message is not nil
	}
	return b, true
}
