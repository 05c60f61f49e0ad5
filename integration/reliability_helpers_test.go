package integration

import (
	"flag"
	"fmt"
	"strings"
	"text/template"
	"time"

	"github.com/costlb/costlb/costlb/costlbtest"
)

// reliabilityLong turns on the long variants of the reliability tests: more
// failover cycles, more connections, longer runs. Off by default so that
// `go test ./...` stays within CI time.
var reliabilityLong = flag.Bool("long", false, "run the long variants of the reliability (fault) tests")

// relTimeout bounds every single client operation and wait in the
// reliability tests. The machine is shared and can stall a process for
// seconds, so it is generous: a real hang still fails, only later.
const relTimeout = 30 * time.Second

// l4Route is one layer4 server: a listen address and the handler text that
// goes inside its route block.
type l4Route struct {
	listen  string
	handler string
}

// costlbRoute returns a layer4 route on listen to a costlb handler whose
// body is format, filled in with args.
func costlbRoute(listen, format string, args ...any) l4Route {
	return l4Route{listen, fmt.Sprintf(`costlb {
		%s
	}`, fmt.Sprintf(format, args...))}
}

// costlbCaddyfileTemplate is the Caddyfile of costlbCaddyfile: the network's
// lines in the costlb global option, and each route's handler lines in a
// layer4 server of its own.
var costlbCaddyfileTemplate = template.Must(template.New("costlb").Parse(`{
	admin {ADMIN}
	costlb {
{{- range .Network}}
		{{.}}
{{- end}}
	}
	layer4 {
{{- range .Routes}}
		{{.Listen}} {
			route {
{{- range .Handler}}
				{{.}}
{{- end}}
			}
		}
{{- end}}
	}
}
`))

// costlbCaddyfile returns a Caddyfile with the costlb global option (its
// body is network, such as "site east" and "link east west 5" on lines of
// their own) and one layer4 server per route. Lines of network and handlers
// are trimmed, so raw strings can be indented as the code around them.
func costlbCaddyfile(network string, routes ...l4Route) string {
	type route struct {
		Listen  string
		Handler []string
	}
	data := struct {
		Network []string
		Routes  []route
	}{Network: trimmedLines(network)}
	for _, r := range routes {
		data.Routes = append(data.Routes, route{r.listen, trimmedLines(r.handler)})
	}
	var b strings.Builder
	if err := costlbCaddyfileTemplate.Execute(&b, data); err != nil {
		panic(err) // the template is fixed and its data plain strings
	}
	return b.String()
}

// trimmedLines returns the lines of s, each without surrounding white space,
// leaving out the first and last if blank.
func trimmedLines(s string) []string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return lines
}

// The pick, simulated.

// simBackend is one backend of a service for the reference model of the
// pick rule: its address (the key of its live count), path cost and
// max_connections (0: none).
type simBackend struct {
	addr string
	path int64
	max  int64
}

// newSim returns the reference model of one config generation of a service
// over bes. Its Pick places a connection over a live-count map by address,
// which the caller keeps: a new generation starts with a fresh model, as a
// reload builds a fresh balancer, while the live counts carry over.
func newSim(bes ...simBackend) *costlbtest.Model {
	mbes := make([]costlbtest.Backend, len(bes))
	for i, b := range bes {
		mbes[i] = costlbtest.Backend{Key: b.addr, Path: b.path, Max: b.max}
	}
	return costlbtest.New(mbes...)
}
