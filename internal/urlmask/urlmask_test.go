package urlmask

import "testing"

func TestRaw(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"wss://u:p@h/x?k=v", "wss://xxxxx@h/x"},
		{"tls://user:p%zz@host:1", "tls://xxxxx@host:1"},
		{"tcp:user:pw@host:1", "xxxxx@host:1"},
		{"ws://h/p#frag", "ws://h/p"},
		{"ws://h/a@b", "ws://xxxxx@b"},
		{"ws://h:1", "ws://h:1"},
		{"", ""},
	} {
		if got := Raw(tc.in); got != tc.want {
			t.Errorf("Raw(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
