package main

import (
	"bytes"
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/wsconn"
)

func TestReadHeaderFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good", "# rotated by cron\nAuthorization: Bearer tok-secret\n\nX-Api-Key:  k1  \nX-Api-Key: k2\n")
	noColon := write("nocolon", "Authorization: Bearer tok-secret\n\nBearer tok-secret-2\n")
	badName := write("badname", "X Key: tok-secret\n")
	control := write("control", "X-Key: a\x01tok-secret\n")
	tests := []struct {
		name     string
		path     string
		want     http.Header
		wantErr  string // the whole message
		wantLine int
		wantIs   error
	}{
		{name: "headers, comments, blank lines", path: good,
			want: http.Header{"Authorization": {"Bearer tok-secret"}, "X-Api-Key": {"k1", "k2"}}},
		{name: "a line without a colon", path: noColon, wantLine: 3,
			wantErr: "header file " + noColon + ", line 3: want 'Name: value'"},
		{name: "a name that is no token", path: badName, wantLine: 1,
			wantErr: "header file " + badName + ", line 1: want 'Name: value'"},
		{name: "a control character in the value", path: control, wantLine: 1,
			wantErr: "header file " + control + `, line 1: header value holds the control character '\x01'`},
		{name: "missing", path: filepath.Join(dir, "missing"), wantIs: fs.ErrNotExist,
			wantErr: "header file " + filepath.Join(dir, "missing") + ": no such file or directory"},
		{name: "a directory", path: dir, wantErr: "header file " + dir + ": is a directory"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, err := readHeaderFile(tt.path)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, h); diff != "" {
					t.Errorf("headers (-want +got):\n%s", diff)
				}
				return
			}
			var he *headerFileError
			if !errors.As(err, &he) || he.Path != tt.path || he.Line != tt.wantLine {
				t.Fatalf("error = %#v, want a *headerFileError for %s line %d", err, tt.path, tt.wantLine)
			}
			if err.Error() != tt.wantErr {
				t.Errorf("message %q, want %q", err, tt.wantErr)
			}
			if tt.wantIs != nil && !errors.Is(err, tt.wantIs) {
				t.Errorf("error %v does not match %v", err, tt.wantIs)
			}
			if strings.Contains(err.Error(), "tok-secret") {
				t.Errorf("message %q shows the file's content", err)
			}
		})
	}
}

func TestDialVenueFlags(t *testing.T) {
	t.Run("parsed", func(t *testing.T) {
		cfg, err := parseDialFlags([]string{"-ping-text", "ping", "-pong-text", "pong", "-idle-timeout", "30s",
			"-header-file", "/run/secrets/headers", "-permanent-close-codes", "4001,4003", "-permanent-close-codes", "1008",
			"-storm-attempts", "3", "-storm-window", "10s", "-storm-gap", "2s", "ws://127.0.0.1:1/"})
		if err != nil {
			t.Fatal(err)
		}
		got := []any{cfg.pingText, cfg.pongText, cfg.idle, cfg.headerFile, []wsconn.StatusCode(cfg.permanent),
			cfg.stormAttempts, cfg.stormWindow, cfg.stormGap}
		want := []any{"ping", "pong", 30 * time.Second, "/run/secrets/headers", []wsconn.StatusCode{4001, 4003, 1008},
			3, 10 * time.Second, 2 * time.Second}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("config (-want +got):\n%s", diff)
		}
	})
	t.Run("defaults", func(t *testing.T) {
		cfg, err := parseDialFlags([]string{"ws://127.0.0.1:1/"})
		if err != nil {
			t.Fatal(err)
		}
		g := wsconn.DefaultStormGuard
		if cfg.stormAttempts != g.Attempts || cfg.stormWindow != g.Window || cfg.stormGap != g.MinGap || cfg.idle != 0 || cfg.pingText != "" {
			t.Errorf("defaults = %+v, want the library's storm guard and no venue feature", cfg)
		}
	})
	usage := []struct {
		name string
		args []string
		want string
	}{
		{"ping text alone", []string{"-ping-text", "ping", "ws://127.0.0.1:1/"}, "-ping-text needs -pong-text"},
		{"pong text alone", []string{"-pong-text", "pong", "ws://127.0.0.1:1/"}, "-pong-text needs -ping-text"},
		{"close code not a number", []string{"-permanent-close-codes", "4001,x", "ws://127.0.0.1:1/"}, `invalid value "4001,x" for flag -permanent-close-codes: "x" is not a close code`},
		{"close code out of range", []string{"-permanent-close-codes", "999", "ws://127.0.0.1:1/"}, "PermanentCloseCodes: 999 is not a close code (1000 to 4999)"},
		{"negative idle timeout", []string{"-idle-timeout=-1s", "ws://127.0.0.1:1/"}, "IdleTimeout must not be negative, got -1s"},
		{"negative storm gap", []string{"-storm-gap=-1s", "ws://127.0.0.1:1/"}, "StormGuard fields must all be positive"},
	}
	for _, tt := range usage {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			if code := run(t.Context(), append([]string{"dial"}, tt.args...), strings.NewReader(""), &stdout, &stderr); code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if !strings.Contains(stderr.String(), tt.want) || !strings.Contains(stderr.String(), "-storm-gap") {
				t.Errorf("stderr lacks %q or the usage:\n%s", tt.want, stderr.String())
			}
		})
	}
}
