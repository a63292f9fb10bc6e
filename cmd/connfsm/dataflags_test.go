package main

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/connfsm/connfsm/wsconn"
)

// TestDialDataFlagsBadInput: each bad value is a *wsconn.ConfigError
// naming its flag, exit 2, before any dial.
func TestDialDataFlagsBadInput(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"inbox 0 with a dropping policy", []string{"-slow-consumer", "drop-oldest"}, "-inbox: must be positive with -slow-consumer drop-oldest"},
		{"negative inbox", []string{"-inbox", "-3"}, "-inbox: must not be negative, got -3"},
		{"unknown policy", []string{"-slow-consumer", "lossy"}, `-slow-consumer: slow-consumer policy "lossy" is none of`},
		{"negative read limit", []string{"-read-limit", "-1MiB"}, "-read-limit: must be positive, got -1048576"},
		{"negative write limit", []string{"-write-limit=-5"}, "-write-limit: must be positive, got -5"},
		{"answer-ping without a colon", []string{"-answer-ping", "ping"}, `-answer-ping: want REQ:REPLY, e.g. ping:pong, got "ping"`},
		{"CA file not PEM", []string{"-ca-file", notPEM}, "-ca-file: " + notPEM + " holds no PEM certificate"},
		{"CA file missing", []string{"-ca-file", filepath.Join(dir, "none.pem")}, "-ca-file: open " + filepath.Join(dir, "none.pem")},
		{"proxy scheme", []string{"-proxy", "ftp://proxy:21"}, `-proxy: scheme must be http, https, socks5 or socks5h, got "ftp"`},
		{"decompress", []string{"-decompress", "zstd"}, `-decompress: want gzip or deflate, got "zstd"`},
		{"login-ack without login", []string{"-login-ack", "ok"}, "-login-ack: needs -login"},
		{"login timeout", []string{"-login", "x", "-login-timeout", "0s"}, "-login-timeout: must be positive, got 0s"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := append(tt.args, "ws://127.0.0.1:1/")
			_, err := parseDialFlags(args)
			var ce *wsconn.ConfigError
			if !errors.As(err, &ce) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("parseDialFlags = %v, want a *wsconn.ConfigError with %q", err, tt.want)
			}
			var stdout, stderr bytes.Buffer
			if code := run(t.Context(), append([]string{"dial"}, args...), noStdin, &stdout, &stderr); code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
			if !strings.Contains(stderr.String(), tt.want) || strings.Contains(stderr.String(), "transition") {
				t.Errorf("stderr lacks %q, or shows a dial:\n%s", tt.want, stderr.String())
			}
		})
	}
}

func TestSizeFlag(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{{"1048576", 1 << 20}, {"512KiB", 512 << 10}, {"4MiB", 4 << 20}, {"1GiB", 1 << 30}, {"2MB", 2e6}, {"10B", 10}}
	for _, tt := range tests {
		var s sizeFlag
		if err := s.Set(tt.in); err != nil || int64(s) != tt.want {
			t.Errorf("Set(%q) = %d, %v; want %d", tt.in, s, err, tt.want)
		}
	}
	var s sizeFlag
	if err := s.Set("4 parsecs"); err == nil {
		t.Errorf("Set(4 parsecs) = nil, want an error")
	}
}
