package loadgen

import (
	"errors"
	"fmt"
	"syscall"
)

// The limits on open files a dial can run into.
const (
	limitProcess = "process" // EMFILE: this process's RLIMIT_NOFILE
	limitSystem  = "system"  // ENFILE: the kernel's table of open files
)

// fileLimitKind names the limit err ran into, limitProcess or
// limitSystem, and "" for any other error. It looks at the error's chain,
// never at its text.
func fileLimitKind(err error) string {
	switch {
	case errors.Is(err, syscall.EMFILE):
		return limitProcess
	case errors.Is(err, syscall.ENFILE):
		return limitSystem
	}
	return ""
}

// FileLimit says that running out of file descriptors stopped dials: a
// run so limited measures the machine's limit, not the clients. Limit is
// the process's soft RLIMIT_NOFILE at the end of the run (0: unknown);
// ProcessDials the dials that failed with EMFILE (that limit reached),
// SystemDials those that failed with ENFILE (the whole system's table
// full); Clients the clients that had at least one such dial.
type FileLimit struct {
	Limit        uint64 `json:"limit"`
	ProcessDials uint64 `json:"process_dials"`
	SystemDials  uint64 `json:"system_dials"`
	Clients      uint64 `json:"clients"`
}

// String says which limit stopped how many dials, as the report and the
// command's failure print it.
func (l *FileLimit) String() string {
	s := ""
	if l.ProcessDials > 0 {
		lim := "unknown"
		if l.Limit > 0 {
			lim = fmt.Sprint(l.Limit)
		}
		s = fmt.Sprintf("open files (%s per process) stopped %d dials (EMFILE)", lim, l.ProcessDials)
	}
	if l.SystemDials > 0 {
		if s != "" {
			s += "; "
		}
		s += fmt.Sprintf("the system's table of open files stopped %d dials (ENFILE)", l.SystemDials)
	}
	return fmt.Sprintf("%s, of %d clients", s, l.Clients)
}
