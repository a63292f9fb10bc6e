package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/connfsm/connfsm/wsconn"
)

// dial's venue flags: an application heartbeat, the data watchdog, headers
// read from a file before every dial, close codes that end the client, the
// storm guard.

// venueOptions returns the wsconn options dial's venue flags ask for.
func (cfg *dialConfig) venueOptions() []wsconn.Option {
	var opts []wsconn.Option
	if cfg.pingText != "" {
		opts = append(opts, wsconn.WithAppHeartbeat(wsconn.TextHeartbeat(cfg.pingText, cfg.pongText)))
	}
	if cfg.idle != 0 { // a negative one is refused by Dial
		opts = append(opts, wsconn.WithIdleTimeout(cfg.idle))
	}
	if path := cfg.headerFile; path != "" {
		opts = append(opts, wsconn.WithCredentials(func(context.Context) (wsconn.Credentials, error) {
			h, err := readHeaderFile(path)
			return wsconn.Credentials{Header: h}, err
		}))
	}
	if len(cfg.permanent) > 0 {
		opts = append(opts, wsconn.WithPermanentCloseCodes(cfg.permanent...))
	}
	for _, msg := range cfg.subscribe {
		// The message is the key: the same subscription given twice is sent once.
		opts = append(opts, wsconn.WithSubscriptions(cfg.sub.subscription(msg)))
	}
	opts = append(opts, cfg.sub.options()...)
	if l := cfg.rate.limiter(); l != nil {
		opts = append(opts, wsconn.WithRateLimit(l))
	}
	g := wsconn.StormGuard{Attempts: cfg.stormAttempts, Window: cfg.stormWindow, MinGap: cfg.stormGap}
	if g.Attempts == 0 || g.Window == 0 || g.MinGap == 0 {
		g = wsconn.StormGuard{} // any of them 0: off
	}
	return append(opts, wsconn.WithStormGuard(g))
}

// checkVenueFlags reports the venue flags that make no sense together.
func (cfg *dialConfig) checkVenueFlags() error {
	switch {
	case cfg.pingText != "" && cfg.pongText == "":
		return errors.New("-ping-text needs -pong-text: the reply that answers it")
	case cfg.pongText != "" && cfg.pingText == "":
		return errors.New("-pong-text needs -ping-text: the heartbeat it answers")
	}
	return nil
}

// headerFileError is a header file that could not be used: its path and,
// for a malformed line, its number. It never holds a line's text, which
// may be a secret.
type headerFileError struct {
	Path string
	Line int // 0 when the file could not be read
	Err  error
}

func (e *headerFileError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("header file %s: %v", e.Path, e.Err)
	}
	return fmt.Sprintf("header file %s, line %d: %v", e.Path, e.Line, e.Err)
}

func (e *headerFileError) Unwrap() error { return e.Err }

// readHeaderFile reads handshake headers from path: one "Name: value" per
// line; blank lines and lines starting with # are skipped. It is read
// again before every dial, so a token rotated into the file is used by the
// next reconnect.
func readHeaderFile(path string) (http.Header, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		var pe *os.PathError
		if errors.As(err, &pe) {
			err = pe.Err // the path is named once, by headerFileError
		}
		return nil, &headerFileError{Path: path, Err: err}
	}
	h := http.Header{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, len(b)+1)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if err := headerFlag(h).Set(line); err != nil {
			return nil, &headerFileError{Path: path, Line: n, Err: err}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, &headerFileError{Path: path, Err: err}
	}
	return h, nil
}

// closeCodesFlag is -permanent-close-codes: a comma-separated list of
// close codes. wsconn checks the range.
type closeCodesFlag []wsconn.StatusCode

func (f *closeCodesFlag) String() string {
	var s []string
	for _, c := range *f {
		s = append(s, strconv.Itoa(int(c)))
	}
	return strings.Join(s, ",")
}

func (f *closeCodesFlag) Set(v string) error {
	for _, part := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil {
			return fmt.Errorf("%q is not a close code", part)
		}
		*f = append(*f, wsconn.StatusCode(n))
	}
	return nil
}
