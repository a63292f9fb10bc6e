package session

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"fmt"
	"io"
	"unicode/utf8"

	"github.com/connfsm/connfsm/internal/enum"
)

// Decompression is how binary payloads are encoded by the venue (HTX
// sends gzip, OKX's older API raw deflate).
type Decompression uint8

const (
	// NoDecompression, the default: payloads are handed over as read.
	NoDecompression Decompression = iota
	// Gzip: binary messages are gzip streams (RFC 1952).
	Gzip
	// Deflate: binary messages are raw deflate streams (RFC 1951).
	Deflate
)

var decompressionNames = [...]string{NoDecompression: "none", Gzip: "gzip", Deflate: "deflate"}

// String returns "none", "gzip" or "deflate".
func (d Decompression) String() string {
	return enum.Name(decompressionNames[:], d, "Decompression(%d)")
}

// WithDecompression decodes every binary message with d as it is read,
// before anything sees it: the application heartbeat's matcher, the ping
// responder, Requests' matchers, the subscriptions and the handler. A
// decoded payload that is valid UTF-8 becomes a Text message (the venue's
// JSON), else stays Binary. A payload that does not decode is handed over
// as read and counted in Stats.Undecoded. The decoded size is bounded by
// the read limit: beyond it the connection is Lost with ErrMessageTooBig.
// Text messages are never touched. This is not permessage-deflate
// (wsconn.WithCompression), which the WebSocket layer does itself.
func WithDecompression(d Decompression) Option { return func(c *config) { c.decompress = d } }

// decode decodes a binary payload as the session's decompression says.
func (s *session) decode(typ MessageType, data []byte) (MessageType, []byte, error) {
	if s.dec == NoDecompression || typ != Binary {
		return typ, data, nil
	}
	var r io.ReadCloser
	var err error
	if s.dec == Gzip {
		r, err = gzip.NewReader(bytes.NewReader(data))
	} else {
		r = flate.NewReader(bytes.NewReader(data))
	}
	if err != nil {
		s.c.stats.undecoded.Add(1)
		return typ, data, nil
	}
	defer r.Close()
	limit := s.c.cfg.readLimit
	var src io.Reader = r
	if limit > 0 {
		src = io.LimitReader(r, limit+1)
	}
	out, err := io.ReadAll(src)
	switch {
	case err != nil:
		s.c.stats.undecoded.Add(1)
		return typ, data, nil
	case limit > 0 && int64(len(out)) > limit:
		s.c.stats.tooBig.Add(1)
		return typ, nil, fmt.Errorf("%w: decoded payload over the read limit of %d bytes", ErrMessageTooBig, limit)
	}
	if utf8.Valid(out) {
		typ = Text
	}
	return typ, out, nil
}
