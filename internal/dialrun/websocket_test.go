package dialrun

import (
	"errors"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
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
			h, err := ReadHeaderFile(tt.path)
			if tt.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(tt.want, h); diff != "" {
					t.Errorf("headers (-want +got):\n%s", diff)
				}
				return
			}
			var he *HeaderFileError
			if !errors.As(err, &he) || he.Path != tt.path || he.Line != tt.wantLine {
				t.Fatalf("error = %#v, want a *HeaderFileError for %s line %d", err, tt.path, tt.wantLine)
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
