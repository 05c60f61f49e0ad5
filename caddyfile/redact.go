package caddyfile

import "strings"

// Redacted stands in for a secret in everything costlb shows or logs.
const Redacted = "REDACTED"

// RedactURL returns raw with the userinfo of its authority (a user name
// and password, "http://ops:S3cret@b:9180/...") replaced by REDACTED, so
// that a readiness URL can be shown in the admin view, the status page,
// logs and error messages without its credentials. It works on the text,
// so a URL that does not parse is redacted as well.
func RedactURL(raw string) string {
	scheme := strings.Index(raw, "://")
	if scheme < 0 {
		return raw
	}
	start := scheme + len("://")
	end := len(raw)
	if i := strings.IndexAny(raw[start:], "/?#"); i >= 0 {
		end = start + i
	}
	at := strings.LastIndex(raw[start:end], "@")
	if at < 0 {
		return raw
	}
	return raw[:start] + Redacted + raw[start+at:]
}
