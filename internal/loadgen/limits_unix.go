//go:build unix

package loadgen

import "syscall"

// openFileLimit returns the soft limit on this process's open files, 0
// if it cannot be read.
func openFileLimit() uint64 {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0
	}
	return uint64(l.Cur)
}

// processCPU returns this process's user and system CPU time in seconds,
// to the microsecond (where /proc counts in hundredths), or -1 if
// getrusage fails.
func processCPU() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return -1
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}
