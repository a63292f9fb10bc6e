package wsconn

import (
	"errors"
	"net/url"
	"strings"
)

// A URL's userinfo, query and fragment may hold credentials (a password, a
// token, a listen key): logs and errors show a URL without them.

// redact returns u without userinfo, query or fragment.
func redact(u *url.URL) string {
	r := url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}
	return r.String()
}

// urlSecrets returns the parts of u that redact leaves out, as they appear
// in error messages: net/http's errors quote the request URL with only the
// password masked.
func urlSecrets(u *url.URL) []string {
	var s []string
	if u == nil {
		return nil
	}
	if u.User != nil {
		name := u.User.Username()
		s = append(s, u.User.String()+"@", name+":***@", name+"@")
	}
	if u.RawQuery != "" {
		s = append(s, "?"+u.RawQuery)
	}
	if u.Fragment != "" {
		s = append(s, "#"+u.EscapedFragment(), "#"+u.Fragment)
	}
	return s
}

// scrubber removes secrets from errors.
type scrubber struct{ r *strings.Replacer }

func newScrubber(secrets []string) scrubber {
	var pairs []string
	for _, s := range secrets {
		if s != "" {
			pairs = append(pairs, s, "")
		}
	}
	return scrubber{strings.NewReplacer(pairs...)}
}

// scrub returns err with every secret removed from its message and from
// the message of every error it wraps, so that none reaches a log or a
// caller. Errors that hold no secret are kept as they are, with their
// types; a *url.Error is rebuilt as one; any other error whose own message
// holds a secret is replaced by one with the cleaned message that wraps
// the cleaned rest of the chain, so errors.Is and errors.As still find
// what it wrapped.
func (sc scrubber) scrub(err error) error {
	out, _ := sc.clean(err)
	return out
}

func (sc scrubber) clean(err error) (error, bool) {
	if err == nil {
		return nil, false
	}
	msg := err.Error()
	cleaned := sc.r.Replace(msg)
	switch e := err.(type) {
	case *url.Error:
		inner, changed := sc.clean(e.Err)
		if !changed && cleaned == msg {
			return err, false
		}
		return &url.Error{Op: e.Op, URL: sc.r.Replace(e.URL), Err: inner}, true
	case interface{ Unwrap() []error }:
		errs := e.Unwrap()
		out := make([]error, len(errs))
		changed := cleaned != msg
		for i, x := range errs {
			var c bool
			out[i], c = sc.clean(x)
			changed = changed || c
		}
		if !changed {
			return err, false
		}
		return &redactedErrors{msg: cleaned, errs: out}, true
	}
	inner, changed := sc.clean(errors.Unwrap(err))
	if !changed && cleaned == msg {
		return err, false
	}
	return &redactedError{msg: cleaned, err: inner}, true
}

// redactedError stands for an error whose message held a secret.
type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }

type redactedErrors struct {
	msg  string
	errs []error
}

func (e *redactedErrors) Error() string   { return e.msg }
func (e *redactedErrors) Unwrap() []error { return e.errs }
