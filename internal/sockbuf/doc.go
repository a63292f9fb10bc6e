// Package sockbuf asks a socket whether bytes from the peer wait unread:
// the client blames a late reply on the process, not the peer, when they do.
package sockbuf
