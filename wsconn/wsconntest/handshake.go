package wsconntest

import (
	"bufio"
	"context"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
)

// Refuse answers the handshake with status and header instead of
// upgrading: 503 with Retry-After for a venue in maintenance, 429 for a
// rate limit, 401 or 403 for bad credentials. A status outside 100-999 is
// answered as 500.
func Refuse(status int, header http.Header) Behavior {
	header = header.Clone()
	return behavior(fmt.Sprintf("Refuse(%d)", status), part{handshake: func(_ *Conn, w http.ResponseWriter, _ *http.Request) bool {
		for k, vs := range header {
			w.Header()[k] = vs
		}
		s := validStatus(status)
		http.Error(w, http.StatusText(s), s)
		return true
	}})
}

// Redirect answers the handshake with status (301, 302, 307 or 308) and
// location in its Location header, as http.Redirect writes it: a path is
// taken relative to the request's, a URL (ws://, wss://, http://, https://)
// as is. Redirecting to the request's own path makes a loop.
func Redirect(status int, location string) Behavior {
	return behavior(fmt.Sprintf("Redirect(%d, %q)", status, location), part{handshake: func(_ *Conn, w http.ResponseWriter, r *http.Request) bool {
		http.Redirect(w, r, location, validStatus(status))
		return true
	}})
}

// Stall never answers the handshake: the request is read, and the venue
// waits until the client gives up or the venue closes, then drops the
// connection. It is the peer that makes a handshake timeout fire.
func Stall() Behavior {
	return behavior("Stall", part{handshake: func(c *Conn, w http.ResponseWriter, r *http.Request) bool {
		select {
		case <-c.ctx.Done():
		case <-r.Context().Done():
		}
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			_ = conn.Close() // no response at all
		}
		return true
	}})
}

// BadAccept answers the handshake with a 101 whose Sec-WebSocket-Accept
// is wrong and keeps the socket open, reading and dropping what arrives,
// until the client closes it or the venue closes: a handshake fault the
// client must detect rather than wait on.
func BadAccept() Behavior {
	return behavior("BadAccept", part{handshake: func(c *Conn, w http.ResponseWriter, r *http.Request) bool {
		hijackAnswer(c, w, "not-"+acceptKey(r.Header.Get("Sec-WebSocket-Key")), nil)
		return true
	}})
}

// Garbage completes the handshake with a correct 101 and then writes p,
// bytes that should not be WebSocket frames, and keeps the socket open,
// reading and dropping what arrives: a protocol fault after the upgrade.
func Garbage(p []byte) Behavior {
	return behavior("Garbage", part{handshake: func(c *Conn, w http.ResponseWriter, r *http.Request) bool {
		hijackAnswer(c, w, acceptKey(r.Header.Get("Sec-WebSocket-Key")), p)
		return true
	}})
}

// Handshake answers handshake requests with fn: it may write any response
// and return true, or return false to leave the request to the next
// behaviour (and the upgrade). fn may block, until r's context ends.
func Handshake(fn func(w http.ResponseWriter, r *http.Request) bool) Behavior {
	if fn == nil {
		return Behavior{}
	}
	return behavior("Handshake", part{handshake: func(_ *Conn, w http.ResponseWriter, r *http.Request) bool {
		return fn(w, r)
	}})
}

// hijackAnswer writes a 101 with the given accept key, then tail, and
// holds the socket until the client or the venue closes it.
func hijackAnswer(c *Conn, w http.ResponseWriter, accept string, tail []byte) {
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		http.Error(w, "wsconntest: hijack: "+err.Error(), http.StatusInternalServerError)
		return
	}
	defer conn.Close()
	c.setStatus(http.StatusSwitchingProtocols)
	_, _ = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Accept: " + accept + "\r\n\r\n")
	_, _ = brw.Write(tail)
	if brw.Flush() != nil {
		return
	}
	stop := context.AfterFunc(c.ctx, func() { _ = conn.Close() })
	defer stop()
	_, _ = io.Copy(io.Discard, bufio.NewReader(conn))
}

// acceptKey is the Sec-WebSocket-Accept answer to key (RFC 6455, 4.2.2).
func acceptKey(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

func validStatus(s int) int {
	if s < 100 || s > 999 {
		return http.StatusInternalServerError
	}
	return s
}
