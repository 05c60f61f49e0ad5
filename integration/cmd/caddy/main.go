// Command caddy is Caddy with caddy-l4 and costlb plugged in, built from this
// tree with the versions pinned in go.mod. The integration tests build and run
// it; users build the same binary with ../../../xcaddy.sh.
package main

import (
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// plug in Caddy's standard modules, caddy-l4 and costlb
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/costlb/costlb"
	_ "github.com/costlb/costlb/module"
	_ "github.com/costlb/costlb/module/httppolicy"
	_ "github.com/costlb/costlb/module/l4handler"
	_ "github.com/mholt/caddy-l4"
)

func main() {
	caddycmd.Main()
}
