// Package urlmask masks the credentials an address may carry, for errors
// and logs.
package urlmask

import "strings"

// Raw returns raw, an address that may not parse as a URL, with its query
// and fragment cut and its userinfo masked as "xxxxx": "wss://u:p@h/x?k"
// becomes "wss://xxxxx@h/x".
func Raw(raw string) string {
	if i := strings.IndexAny(raw, "?#"); i >= 0 {
		raw = raw[:i]
	}
	at := strings.LastIndex(raw, "@")
	if at < 0 {
		return raw
	}
	if i := strings.Index(raw, "//"); i >= 0 && i < at {
		return raw[:i+2] + "xxxxx" + raw[at:]
	}
	return "xxxxx" + raw[at:]
}
