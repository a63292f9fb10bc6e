package sockbuf

import (
	"context"
	"net"
	"runtime"
	"testing"
	"time"
)

// TestUnread: bytes the peer sent and the process has not read are seen
// waiting in the socket, on Linux; once read, none are; a connection that
// is no socket never has any.
func TestUnread(t *testing.T) {
	p1, p2 := net.Pipe()
	defer p1.Close()
	defer p2.Close()
	if Unread(p1) {
		t.Errorf("Unread(net.Pipe) = true, want false")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	dialed, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer dialed.Close()
	accepted, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer accepted.Close()
	if Unread(dialed) {
		t.Errorf("unread before the peer wrote = true, want false")
	}
	if _, err := accepted.Write([]byte("pong")); err != nil {
		t.Fatal(err)
	}
	want := runtime.GOOS == "linux"
	if want {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for !Unread(dialed) { // loopback delivers at once; bounded all the same
			if ctx.Err() != nil {
				t.Fatalf("unread never saw the 4 bytes the peer wrote")
			}
			runtime.Gosched()
		}
	} else if Unread(dialed) {
		t.Errorf("unread = true on %s, want false", runtime.GOOS)
	}
	buf := make([]byte, 4)
	if _, err := dialed.Read(buf); err != nil {
		t.Fatal(err)
	}
	if Unread(dialed) {
		t.Errorf("unread after reading everything = true, want false")
	}
}
