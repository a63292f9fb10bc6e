//go:build !linux

package sockbuf

import "net"

// Unread reports whether bytes from the peer wait in c's receive buffer;
// where the ioctl is not used, it never knows.
func Unread(net.Conn) bool { return false }
