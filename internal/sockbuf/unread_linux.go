package sockbuf

import (
	"net"
	"syscall"
	"unsafe"
)

// Unread reports whether bytes from the peer wait in c's receive buffer,
// not yet read by the process (the FIONREAD ioctl). False if c is not a
// socket, or on error.
func Unread(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var n int32
	cerr := rc.Control(func(fd uintptr) {
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&n))); errno != 0 {
			n = 0
		}
	})
	return cerr == nil && n > 0
}
