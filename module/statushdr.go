package module

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
)

// statusPageCSP is the status page's Content-Security-Policy: the page
// loads nothing but itself. Its one inline style and one inline script are
// allowed by their hashes, computed from the embedded page, so the policy
// cannot drift from the page; it fetches status.json from its own origin.
var statusPageCSP = pageCSP(statusPage)

// pageCSP returns the Content-Security-Policy of a self-contained page
// whose inline <style> and <script> elements are allowed by hash.
func pageCSP(page []byte) string {
	return "default-src 'none'; " +
		"script-src " + inlineHashes(page, "script") + "; " +
		"style-src " + inlineHashes(page, "style") + "; " +
		"connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
}

// inlineHashes returns the CSP sources ('sha256-...') of every inline
// element <tag>...</tag> of page, or 'none' if there is none.
func inlineHashes(page []byte, tag string) string {
	open, end := []byte("<"+tag+">"), []byte("</"+tag+">")
	var out []byte
	for rest := page; ; {
		i := bytes.Index(rest, open)
		if i < 0 {
			break
		}
		rest = rest[i+len(open):]
		j := bytes.Index(rest, end)
		if j < 0 {
			break
		}
		sum := sha256.Sum256(rest[:j])
		if out != nil {
			out = append(out, ' ')
		}
		out = append(out, "'sha256-"+base64.StdEncoding.EncodeToString(sum[:])+"'"...)
		rest = rest[j+len(end):]
	}
	if out == nil {
		return "'none'"
	}
	return string(out)
}

// setSecurityHeaders sets what every answer of the status handler
// carries: its content is never sniffed into another type, and never
// cached (it is live state).
func setSecurityHeaders(h http.Header) {
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
}
