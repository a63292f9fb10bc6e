package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/connfsm/connfsm/wsconn"
)

func TestDialVenueFlags(t *testing.T) {
	t.Run("parsed", func(t *testing.T) {
		cfg, err := parseDialFlags([]string{"-ping-text", "ping", "-pong-text", "pong", "-idle-timeout", "30s",
			"-header-file", "/run/secrets/headers", "-permanent-close-codes", "4001,4003", "-permanent-close-codes", "1008",
			"-storm-attempts", "3", "-storm-window", "10s", "-storm-gap", "2s", "ws://127.0.0.1:1/"})
		if err != nil {
			t.Fatal(err)
		}
		got := []any{cfg.run.PingText, cfg.run.PongText, cfg.run.IdleTimeout, cfg.ws.HeaderFile, cfg.ws.PermanentCloseCodes,
			cfg.run.Storm.Attempts, cfg.run.Storm.Window, cfg.run.Storm.MinGap}
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
		if cfg.run.Storm != g || cfg.run.IdleTimeout != 0 || cfg.run.PingText != "" {
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
		{"close code out of range", []string{"-permanent-close-codes", "999", "ws://127.0.0.1:1/"}, `invalid value "999" for flag -permanent-close-codes: "999" is not a close code (1000 to 4999)`},
		{"negative idle timeout", []string{"-idle-timeout=-1s", "ws://127.0.0.1:1/"}, "-idle-timeout: must not be negative, got -1s"},
		{"negative storm gap", []string{"-storm-gap=-1s", "ws://127.0.0.1:1/"}, "-storm-gap: must not be negative, got -1s"},
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
