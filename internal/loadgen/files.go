package loadgen

import "fmt"

// RaiseFileLimit raises the open-file limit as far as allowed, for a run
// of cfg. Its error says why it could not, or warns that the limit is
// below what the run needs (FilesNeeded, and some to spare).
func RaiseFileLimit(cfg Config) error {
	limit, err := raiseFileLimit()
	if err != nil {
		return err
	}
	if need := uint64(FilesNeeded(cfg)) + 64; limit > 0 && limit < need {
		return fmt.Errorf("warning: the open-file limit %d is below the %d open files the run needs", limit, need)
	}
	return nil
}

// FilesNeeded returns the sockets a run of cfg holds in this process: one
// per client, and with the embedded venue (up to EmbeddedMax clients, and
// always in pool mode) the venue's end of each too.
func FilesNeeded(cfg Config) int {
	switch {
	case cfg.Pool != nil && cfg.Pool.PerConn > 0:
		return 2 * ((cfg.Pool.Subs + cfg.Pool.PerConn - 1) / cfg.Pool.PerConn)
	case cfg.URL == "" && cfg.N <= EmbeddedMax:
		return 2 * cfg.N
	}
	return cfg.N
}
