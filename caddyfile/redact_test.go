package caddyfile_test

import (
	"testing"

	. "github.com/costlb/costlb/caddyfile"
)

func TestRedactURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://ops:S3cret@b:9180/ready/x":        "http://REDACTED@b:9180/ready/x",
		"https://tok@b/ready/x?a=b@c":             "https://REDACTED@b/ready/x?a=b@c",
		"http://a:p@ss@b:9180":                    "http://REDACTED@b:9180",
		"http://b:9180/ready/x":                   "http://b:9180/ready/x",
		"http://ops:S3cret@b:99999/ready/x":       "http://REDACTED@b:99999/ready/x",
		"http://ops:S3%cret@b:9180/ready/x#frag@": "http://REDACTED@b:9180/ready/x#frag@",
		"not a url": "not a url",
	} {
		if got := RedactURL(in); got != want {
			t.Errorf("RedactURL(%q) = %q, want %q", in, got, want)
		}
	}
}
