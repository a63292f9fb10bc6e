// Package sockbuf asks a socket whether bytes from the peer wait unread.
// When they do, the client blames a late reply on the process, not the
// peer.
package sockbuf
