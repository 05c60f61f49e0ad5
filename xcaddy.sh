#!/usr/bin/env bash
# xcaddy.sh builds ./caddy: Caddy with caddy-l4 and costlb from this working
# tree, at the versions this project pins. It needs only Go: xcaddy itself is
# built from the tools/ module (go install pkg@version is not used).
#
# Usage: ./xcaddy.sh [extra xcaddy build flags...]
# Env:   CADDY_VERSION (default v2.11.9), CADDY_L4_VERSION (default v0.1.2),
#        CADDY_OUTPUT (default ./caddy)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
cd "$root"

caddy_version="${CADDY_VERSION:-v2.11.9}"
l4_version="${CADDY_L4_VERSION:-v0.1.2}"
output="${CADDY_OUTPUT:-$root/caddy}"
xcaddy="$root/tools/bin/xcaddy"

if [[ ! -x "$xcaddy" ]]; then
	echo "xcaddy.sh: building xcaddy from tools/go.mod" >&2
	(cd "$root/tools" && go build -o bin/xcaddy github.com/caddyserver/xcaddy/cmd/xcaddy)
fi

# The local module is unpublished: give it an explicit placeholder version so
# that xcaddy's "go get" does not ask the module proxy for it.
"$xcaddy" build "$caddy_version" \
	--output "$output" \
	--with "github.com/mholt/caddy-l4@${l4_version}" \
	--with "github.com/costlb/costlb@v0.0.0-00010101000000-000000000000=$root" \
	"$@"

echo "xcaddy.sh: built $output"
