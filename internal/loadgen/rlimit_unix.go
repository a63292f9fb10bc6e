//go:build unix

package loadgen

import (
	"fmt"
	"syscall"
)

// raiseFileLimit raises the soft limit on open files to the hard limit,
// so load can hold one socket (two with the embedded server) per client,
// and returns the limit in force.
func raiseFileLimit() (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("get RLIMIT_NOFILE: %w", err)
	}
	if l.Cur < l.Max {
		want := l
		want.Cur = l.Max
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &want); err != nil {
			return uint64(l.Cur), fmt.Errorf("raise RLIMIT_NOFILE to %d: %w", l.Max, err)
		}
		l = want
	}
	return uint64(l.Cur), nil
}
