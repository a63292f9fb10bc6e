package wsconntest

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/google/go-cmp/cmp"
)

// frameBytes encodes a frame as RFC 6455 section 5.2 lays it out, masked
// with key when key is not nil.
func frameBytes(fin bool, op Opcode, payload []byte, key []byte) []byte {
	var b bytes.Buffer
	b0 := byte(op)
	if fin {
		b0 |= 0x80
	}
	b.WriteByte(b0)
	var maskBit byte
	if key != nil {
		maskBit = 0x80
	}
	switch n := len(payload); {
	case n < 126:
		b.WriteByte(maskBit | byte(n))
	case n < 1<<16:
		b.WriteByte(maskBit | 126)
		_ = binary.Write(&b, binary.BigEndian, uint16(n))
	default:
		b.WriteByte(maskBit | 127)
		_ = binary.Write(&b, binary.BigEndian, uint64(n))
	}
	p := bytes.Clone(payload)
	if key != nil {
		b.Write(key)
		for i := range p {
			p[i] ^= key[i%4]
		}
	}
	b.Write(p)
	return b.Bytes()
}

func closePayload(code websocket.StatusCode, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, uint16(code)), reason...)
}

// TestFrameParser feeds a stream of frames split at every offset and in
// one piece: the frames come out the same.
func TestFrameParser(t *testing.T) {
	key := []byte{0x12, 0x34, 0x56, 0x78}
	big := bytes.Repeat([]byte("x"), 70000)
	for _, masked := range []bool{false, true} {
		k := []byte(nil)
		if masked {
			k = key
		}
		var stream []byte
		stream = append(stream, frameBytes(true, OpText, []byte("hello"), k)...)
		stream = append(stream, frameBytes(false, OpBinary, bytes.Repeat([]byte{1}, 300), k)...)
		stream = append(stream, frameBytes(true, OpContinuation, big, k)...)
		stream = append(stream, frameBytes(true, OpPing, []byte("p1"), k)...)
		stream = append(stream, frameBytes(true, OpPong, nil, k)...)
		stream = append(stream, frameBytes(true, OpClose, closePayload(4001, "bye"), k)...)
		stream = append(stream, frameBytes(true, OpClose, nil, k)...)
		want := []Frame{
			{Dir: FromClient, Op: OpText, Fin: true, Len: 5},
			{Dir: FromClient, Op: OpBinary, Len: 300},
			{Dir: FromClient, Op: OpContinuation, Fin: true, Len: 70000},
			{Dir: FromClient, Op: OpPing, Fin: true, Len: 2, Payload: []byte("p1")},
			{Dir: FromClient, Op: OpPong, Fin: true},
			{Dir: FromClient, Op: OpClose, Fin: true, Len: 5, Payload: closePayload(4001, "bye"), Code: 4001, Reason: "bye"},
			{Dir: FromClient, Op: OpClose, Fin: true, Code: websocket.StatusNoStatusRcvd},
		}
		splits := []int{len(stream)}
		for i := 1; i < 40; i++ {
			splits = append(splits, i)
		}
		for _, size := range splits {
			var got []Frame
			p := frameParser{dir: FromClient, headerDone: true, emit: func(f Frame) { got = append(got, f) }, now: func() time.Time { return time.Time{} }}
			for rest := stream; len(rest) > 0; {
				n := min(size, len(rest))
				p.feed(rest[:n])
				rest = rest[n:]
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Fatalf("masked %v, pieces of %d (-want +got):\n%s", masked, size, diff)
			}
		}
	}
}

// TestFrameParserSkipsTheHTTPHeader: the venue's side starts with the 101
// response; frames follow its blank line, even when split inside it.
func TestFrameParserSkipsTheHTTPHeader(t *testing.T) {
	stream := append([]byte("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"), frameBytes(true, OpPing, nil, nil)...)
	for size := 1; size <= len(stream); size++ {
		var got []Opcode
		p := frameParser{dir: ToClient, emit: func(f Frame) { got = append(got, f.Op) }, now: time.Now}
		for rest := stream; len(rest) > 0; {
			n := min(size, len(rest))
			p.feed(rest[:n])
			rest = rest[n:]
		}
		if diff := cmp.Diff([]Opcode{OpPing}, got); diff != "" {
			t.Fatalf("pieces of %d (-want +got):\n%s", size, diff)
		}
	}
}

// FuzzFrameParser: any bytes, split anywhere, never panic, and the frames
// found account for no more bytes than were fed.
func FuzzFrameParser(f *testing.F) {
	f.Add(frameBytes(true, OpText, []byte("hi"), []byte{1, 2, 3, 4}), uint8(3), true)
	f.Add([]byte("HTTP/1.1 101 OK\r\n\r\n\x81\x7f\xff\xff\xff\xff\xff\xff\xff\xff"), uint8(1), false)
	f.Fuzz(func(t *testing.T, data []byte, split uint8, inFrames bool) {
		size := int(split%32) + 1
		var total int64
		p := frameParser{dir: ToClient, headerDone: inFrames, now: time.Now, emit: func(f Frame) {
			if f.Len < 0 || len(f.Payload) > 125 && f.Op >= OpClose {
				t.Errorf("frame %+v", f)
			}
			total += f.Len
		}}
		for rest := data; len(rest) > 0; {
			n := min(size, len(rest))
			p.feed(rest[:n])
			rest = rest[n:]
		}
		if total > int64(len(data)) {
			t.Errorf("frames of %d payload bytes from %d bytes", total, len(data))
		}
	})
}
