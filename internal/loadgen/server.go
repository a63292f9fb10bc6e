package loadgen

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/connfsm/connfsm/wsconn/wsconntest"
)

// controlTimeout bounds a down or up request to the child venue.
const controlTimeout = 30 * time.Second

// server is the venue under load: embedded, a child process, or external
// (which load can neither restart nor ask for counters).
type server struct {
	url, kind string
	embedded  *wsconntest.Server
	control   string // the child's control endpoint, "http://host:port/"
	pid       int    // the child's
	http      *http.Client
	shutdown  func()
}

// NewVenue starts the venue `connfsm load` and `connfsm serve` run: a
// WebSocket echo server on addr over TCP that records counters only, so
// it can run for hours under thousands of connections.
func NewVenue(addr string) (*wsconntest.Server, error) {
	return wsconntest.NewTCPServer(addr, wsconntest.WithoutRecording())
}

// startServer starts the venue: in process for up to EmbeddedMax clients,
// else as a child `connfsm serve` whose first stdout lines are its URL and
// its control endpoint. shutdown stops it.
func startServer(cfg Config, stderr io.Writer) (*server, error) {
	if cfg.N <= EmbeddedMax {
		srv, err := NewVenue("127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		return &server{url: srv.URL + "/", kind: "embedded", embedded: srv, shutdown: srv.Close}, nil
	}
	exe := cfg.Exe
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("start server: %w", err)
		}
	}
	cmd := exec.Command(exe, "serve", "-addr", "127.0.0.1:0", "-control", "127.0.0.1:0", "-until-stdin-eof")
	cmd.Stderr = stderr
	cmd.Env = append(os.Environ(), "GOGC="+strconv.Itoa(cfg.GOGC))
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("start server: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start server %s serve: %w", exe, err)
	}
	lines := make(chan [2]string, 1)
	drained := make(chan struct{})
	go func() {
		defer close(drained)
		br := bufio.NewReader(out)
		u, _ := br.ReadString('\n')
		ctl, _ := br.ReadString('\n')
		lines <- [2]string{strings.TrimSpace(u), strings.TrimSpace(ctl)}
		_, _ = io.Copy(io.Discard, br) // until the child exits
	}()
	// No keep-alive: an idle connection's goroutines would count as left
	// over when the clients are gone.
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	// Closing its stdin stops it; if it hangs, it is killed. Wait comes
	// after the last read of its stdout, as os/exec requires.
	shutdown := func() {
		hc.CloseIdleConnections()
		_ = in.Close()
		t := time.AfterFunc(10*time.Second, func() { _ = cmd.Process.Kill() })
		<-drained
		_ = cmd.Wait()
		t.Stop()
	}
	select {
	case l := <-lines:
		ctl, ok := strings.CutPrefix(l[1], "control: ")
		if !strings.HasPrefix(l[0], "ws://") || !ok || !strings.HasPrefix(ctl, "http://") {
			shutdown()
			return nil, fmt.Errorf("server %s serve printed %q, not its URL and control endpoint", exe, l[0]+"\n"+l[1])
		}
		return &server{url: l[0], kind: "child", control: ctl, pid: cmd.Process.Pid, http: hc, shutdown: shutdown}, nil
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		shutdown()
		return nil, fmt.Errorf("server %s serve printed no URL within 10s", exe)
	}
}

// down takes the venue down: dials are refused and every connection is
// reset.
func (s *server) down() error {
	if s.embedded != nil {
		s.embedded.Down()
		return nil
	}
	return s.post("down")
}

// up brings it back on the same address.
func (s *server) up() error {
	if s.embedded != nil {
		return s.embedded.Up()
	}
	return s.post("up")
}

// reset drops every connection without a close handshake.
func (s *server) reset() error {
	if s.embedded != nil {
		s.embedded.ResetAll()
		return nil
	}
	return s.post("reset")
}

// blackhole turns the venue into a half-open peer, or back.
func (s *server) blackhole(on bool) error {
	if s.embedded != nil {
		s.embedded.Blackhole(on)
		return nil
	}
	return s.post(fmt.Sprintf("blackhole?on=%t", on))
}

func (s *server) post(what string) error {
	if s.control == "" {
		return fmt.Errorf("server %s: no control endpoint", s.kind)
	}
	// Down resets every connection, which takes seconds with 10,000 on a
	// busy machine: the request's bound is generous, and short of the
	// default client's none.
	ctx, cancel := context.WithTimeout(context.Background(), controlTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.control+what, nil)
	if err != nil {
		return fmt.Errorf("server %s: %w", what, err)
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return fmt.Errorf("server %s: %w", what, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("server %s: %s: %s", what, resp.Status, strings.TrimSpace(string(body)))
	}
	return nil
}

// accepted returns the venue's count of accepted TCP connections, if it
// can be asked.
func (s *server) accepted() (uint64, bool) {
	if s.embedded != nil {
		return uint64(s.embedded.Stats().Accepted), true
	}
	if s.control == "" {
		return 0, false
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.control+"stats", nil)
	if err != nil {
		return 0, false
	}
	resp, err := s.http.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	var st ControlStats
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&st) != nil {
		return 0, false
	}
	return st.Accepted, true
}

// cpuSeconds returns the child venue's CPU time, if there is a child.
func (s *server) cpuSeconds() (float64, bool) {
	if s.pid == 0 {
		return 0, false
	}
	return procCPUSeconds(strconv.Itoa(s.pid))
}
