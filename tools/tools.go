//go:build tools

// Package tools pins the build tools this project uses (xcaddy), so that they
// are built from versions recorded in this module's go.mod and go.sum rather
// than installed with "go install pkg@version". Build xcaddy with:
//
//	cd tools && go build -o bin/xcaddy github.com/caddyserver/xcaddy/cmd/xcaddy
//
// ../xcaddy.sh does this for you.
package tools

import (
	_ "github.com/caddyserver/xcaddy/cmd/xcaddy"
)
