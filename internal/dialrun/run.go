// Package dialrun is the application behind `connfsm dial`: an
// interactive resilient client. Lines read from stdin are sent as text
// messages. Received messages go to stdout, the lifecycle's timeline to
// stderr. Run ends on stdin's end, on its context's end, or when the
// client gives up; it returns the exit code.
//
// The command parses its flags into a Config and calls Run. Run does not
// know the transport: Config.Dial starts the client with the options every
// transport shares, which Run builds from the Config. WebSocket.Dial is
// the dial of ws:// and wss:// URLs.
package dialrun

import (
	"bufio"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/connfsm/connfsm"
	"github.com/connfsm/connfsm/fsm"
	"github.com/connfsm/connfsm/internal/timeline"
	"github.com/connfsm/connfsm/session"
	"github.com/connfsm/connfsm/session/transport"
)

// The exit codes Run returns.
const (
	ExitOK    = 0 // a user close with every accepted line sent
	ExitFail  = 1 // the client gave up or ended otherwise, or did not close cleanly
	ExitUsage = 2 // Dial refused the configuration (session.ErrInvalidConfig)
)

// closeBound bounds the final Close: the close handshake is already
// bounded by the client's close timeout; this is a backstop.
const closeBound = session.DefaultCloseTimeout + 5*time.Second

// Client is what Run drives: the methods of *session.Client it uses, so
// that the client of any transport (wsconn, tcpconn) fits.
type Client interface {
	SendText(ctx context.Context, text string) error
	Close(ctx context.Context) error
	Done() <-chan struct{}
	Err() error
	State() connfsm.State
	Stats() session.Stats
}

// DialFunc starts a client without waiting for its first connection.
// opts are Run's: the shared settings of a Config and Run's observers; a
// transport adds its own after them.
type DialFunc func(ctx context.Context, opts ...session.Option) (Client, error)

// Run runs the client cfg describes until stdin ends (then every accepted
// line is sent, cfg.Linger waited, and the client closed), ctx ends, or
// the client ends on its own. It prints the summary and returns the exit
// code. A configuration Dial refuses is reported on stderr with ExitUsage.
func Run(ctx context.Context, cfg Config, stdin io.Reader, stdout, stderr io.Writer) int {
	out := timeline.New(stdout, cfg.JSON, false)
	tl := timeline.New(stderr, cfg.JSON, false)
	var stragglers atomic.Int64
	// stepped wakes waitFlushed: the buffer's flush ends with a step
	// (Synced, or Lost when a write failed), and so does the client.
	stepped := make(chan struct{}, 1)
	opts := append(cfg.options(), cfg.Options...)
	opts = append(opts,
		session.OnRecord(func(ctx context.Context, r fsm.Record[connfsm.State, connfsm.Event]) {
			if r.Kind == fsm.RecordStraggler {
				stragglers.Add(1)
			}
			tl.Observe(ctx, r)
			select {
			case stepped <- struct{}{}:
			default:
			}
		}),
		session.OnMessage(func(_ context.Context, m transport.Message) {
			text := string(m.Data)
			if m.Type == transport.Binary {
				text = "binary:" + base64.StdEncoding.EncodeToString(m.Data)
			}
			out.Data(text, m.Epoch)
		}),
	)
	if cfg.Dial == nil {
		fmt.Fprintln(stderr, "connfsm dial: no transport")
		return ExitUsage
	}
	client, err := cfg.Dial(ctx, opts...)
	if err != nil {
		fmt.Fprintf(stderr, "connfsm dial: %v\n", err)
		if errors.Is(err, session.ErrInvalidConfig) {
			return ExitUsage
		}
		return ExitFail
	}

	quit := make(chan struct{})
	defer close(quit)
	in := readLines(stdin, cfg.WriteLimit, quit)
	if accepted, eof := sendLines(ctx, client, in.lines, stderr); eof {
		if in.err != nil {
			fmt.Fprintf(stderr, "connfsm dial: reading stdin: %v\n", in.err)
		}
		waitFlushed(ctx, client, accepted, stepped)
		if cfg.Linger > 0 {
			t := time.NewTimer(cfg.Linger)
			select {
			case <-t.C:
			case <-client.Done():
			case <-ctx.Done():
			}
			t.Stop()
		}
	}

	cctx, cancel := context.WithTimeout(context.Background(), closeBound)
	defer cancel()
	closeErr := client.Close(cctx)
	return summary(client, closeErr, int(stragglers.Load()), tl, stderr)
}

// sendLines sends each line as a text message until lines is closed (eof),
// the client ends, or ctx ends. It returns how many the client accepted.
func sendLines(ctx context.Context, client Client, lines <-chan stdinLine, stderr io.Writer) (accepted uint64, eof bool) {
	for {
		select {
		case line, ok := <-lines:
			if !ok {
				return accepted, true
			}
			if line.err != nil {
				fmt.Fprintf(stderr, "connfsm dial: line not sent: %v\n", line.err)
				continue
			}
			switch err := client.SendText(ctx, line.text); {
			case err == nil:
				accepted++
			case errors.Is(err, session.ErrClosed):
				return accepted, false
			default:
				fmt.Fprintf(stderr, "connfsm dial: line not sent: %v\n", err)
			}
		case <-client.Done():
			return accepted, false
		case <-ctx.Done():
			return accepted, false
		}
	}
}

// waitFlushed waits until every accepted line has been written or counted
// as unsent, the client has ended, or ctx ends: lines typed while
// reconnecting are sent before stdin's EOF closes the client. A line
// accepted while connected is written when SendText returns; one kept
// while not is written, or counted as unsent, before the lifecycle's next
// step (Synced or Lost), which signals stepped.
func waitFlushed(ctx context.Context, client Client, accepted uint64, stepped <-chan struct{}) {
	for {
		if st := client.Stats(); st.MessagesOut+st.Unsent >= accepted {
			return
		}
		select {
		case <-stepped:
		case <-client.Done():
			return
		case <-ctx.Done():
			return
		}
	}
}

// stdinLines is stdin read line by line: lines is closed at EOF, and err
// is valid once it is.
type stdinLines struct {
	lines <-chan stdinLine
	err   error
}

// stdinLine is a line of stdin, or why it is not sent: it is over the
// write limit.
type stdinLine struct {
	text string
	err  error
}

// readLines reads r in a goroutine, line by line. A line over limit bytes
// (limit > 0) is read to its end but not kept: its stdinLine says how
// long it was, and the lines after it are read as before. The goroutine
// ends at EOF, or at the next line after quit is closed: a Read blocked
// on a terminal cannot be interrupted, and the process exits meanwhile.
func readLines(r io.Reader, limit int64, quit <-chan struct{}) *stdinLines {
	ch := make(chan stdinLine)
	s := &stdinLines{lines: ch}
	go func() {
		defer close(ch)
		br := bufio.NewReaderSize(r, 64<<10)
		for {
			line, n, err := readLine(br, limit)
			if errors.Is(err, io.EOF) {
				return
			}
			if err != nil {
				s.err = err
				return
			}
			l := stdinLine{text: string(line)}
			if limit > 0 && n > limit {
				l.err = fmt.Errorf("%w: %d bytes over the write limit of %d", session.ErrMessageTooBig, n, limit)
			}
			select {
			case ch <- l:
			case <-quit:
				return
			}
		}
	}()
	return s
}

// readLine reads the next line of br, without its "\n" or "\r\n" (a last
// line may have neither), and returns it with its length n. Of a line
// over limit bytes (limit > 0) no more than limit+2 bytes are kept: line
// is then not the whole line. It returns io.EOF once br is read.
func readLine(br *bufio.Reader, limit int64) (line []byte, n int64, err error) {
	var tail [2]byte // the last two bytes read: the line's end
	for {
		chunk, err := br.ReadSlice('\n')
		if limit <= 0 || n+int64(len(chunk)) <= limit+2 {
			line = append(line, chunk...)
		}
		n += int64(len(chunk))
		if k := len(chunk); k >= 2 {
			tail = [2]byte(chunk[k-2:])
		} else if k == 1 {
			tail = [2]byte{tail[1], chunk[0]}
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF) && n > 0: // a last line without "\n"
			if tail[1] == '\r' {
				n--
			}
		case err != nil:
			return nil, 0, err
		default: // "\n", and a "\r" before it
			n--
			if n > 0 && tail[0] == '\r' {
				n--
			}
		}
		if int64(len(line)) > n {
			line = line[:n]
		}
		return line, n, nil
	}
}
