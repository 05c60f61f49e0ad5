package module

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/costlb/costlb/costlb"
)

func init() {
	caddy.RegisterModule(new(StatusHandler))
	httpcaddyfile.RegisterHandlerDirective("costlb_status", parseStatusDirective)
	// usable in any site block without an order line, like metrics
	httpcaddyfile.RegisterDirectiveOrder("costlb_status", httpcaddyfile.After, "metrics")
}

// StatusHandler is the costlb_status HTTP handler: it serves this Caddy's
// costlb state over HTTP, where Caddy's matchers, TLS and auth protect it.
//
//   - GET /ready/<service>: the service's readiness, for peer sites whose
//     costlb uses this Caddy as a gateway (a backend's "ready" URL): 200
//     with {"service", "site", "ready": true, "routes"} while the service
//     has an available backend here, 503 with "ready": false otherwise,
//     404 for a service this Caddy does not have.
//   - GET /status.json: the same JSON as the admin API's /costlb/.
//   - GET /history.json: the history (docs/status-page.md).
//   - GET /: a page for people.
//
// Paths are those the handler sees: mount it under a prefix with
// handle_path. Any method but GET and HEAD gets 405.
type StatusHandler struct {
	app *App
}

// CaddyModule returns the Caddy module information.
func (*StatusHandler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.costlb_status",
		New: func() caddy.Module { return new(StatusHandler) },
	}
}

// Provision finds the config's costlb app.
func (s *StatusHandler) Provision(ctx caddy.Context) error {
	var err error
	s.app, err = LoadApp(ctx, "costlb_status")
	return err
}

// ServeHTTP answers the status routes; it never calls next.
func (s *StatusHandler) ServeHTTP(w http.ResponseWriter, r *http.Request, _ caddyhttp.Handler) error {
	setSecurityHeaders(w.Header())
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"error": fmt.Sprintf("method %s not allowed: costlb_status is read-only; use GET or HEAD", r.Method)}, false)
		return nil
	}
	path := r.URL.Path
	switch {
	case strings.HasPrefix(path, "/ready/"):
		s.serveReady(w, strings.TrimPrefix(path, "/ready/"))
	case path == "/status.json":
		writeJSON(w, http.StatusOK, s.app.View(), true)
	case path == "/history.json":
		serveHistory(w, r)
	case path == "/" || path == "":
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", statusPageCSP)
		_, _ = w.Write(statusPage)
	default:
		writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no costlb status resource %q; try /, /status.json, /history.json or /ready/<service>", path)}, false)
	}
	return nil
}

// serveReady answers GET /ready/<service>.
func (s *StatusHandler) serveReady(w http.ResponseWriter, name string) {
	svc := s.app.Service(name)
	if svc == nil {
		writeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no costlb service %q in this Caddy (site %q)", name, s.app.Site)}, false)
		return
	}
	ans := ReadyAnswer{Service: name, Site: s.app.Site}
	ans.Ready, ans.Routes = readiness(svc.Routes())
	status := http.StatusOK
	if !ans.Ready {
		status = http.StatusServiceUnavailable
	}
	writeJSON(w, status, ans.fit(), false)
}

// MaxReadyAnswer is the most a readiness answer may weigh, in bytes: what
// every site reads of a peer's answer (module/gateway). An answer never
// exceeds it.
const MaxReadyAnswer = costlb.MaxReadyAnswer

// ReadyAnswer is the JSON document of GET <costlb_status>/ready/<service>,
// which a peer's gateway backend polls.
type ReadyAnswer struct {
	Service string         `json:"service"`
	Site    string         `json:"site"`
	Ready   bool           `json:"ready"`
	Routes  []costlb.Route `json:"routes"`
}

// fit returns the answer with the cheapest routes that keep it, as one
// line of JSON (writeJSON's, newline included), within MaxReadyAnswer
// (Routes is sorted cheapest first). Service and site names are at most a
// few hundred bytes and a route at most MaxRouteHops site names, so at
// least one route always fits.
func (a ReadyAnswer) fit() ReadyAnswer {
	for len(a.Routes) > 1 {
		b, err := json.Marshal(a)
		if err != nil || len(b)+1 <= MaxReadyAnswer {
			break // err: strings and numbers always encode
		}
		a.Routes = a.Routes[:len(a.Routes)-1]
	}
	return a
}

// writeJSON answers with v as JSON, indented for people when indent is set
// (a readiness answer, which peers poll, is one line).
func writeJSON(w http.ResponseWriter, status int, v any, indent bool) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	if indent {
		enc.SetIndent("", "  ")
	}
	_ = enc.Encode(v)
}

// statusPage is the page for people at GET /: self-contained (no external
// assets), it draws the site network and every service's backends from
// status.json, refreshed every second.
//
//go:embed status.html
var statusPage []byte

// parseStatusDirective sets up the costlb_status directive's handler (see
// UnmarshalCaddyfile).
func parseStatusDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	s := new(StatusHandler)
	err := s.UnmarshalCaddyfile(h.Dispenser)
	return s, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens. Syntax:
//
//	costlb_status
func (s *StatusHandler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // consume directive name
	if d.NextArg() {
		return d.Errf("costlb_status: unexpected argument %q; it takes none (mount it under a path with handle_path)", d.Val())
	}
	if d.NextBlock(d.Nesting()) {
		return d.Errf("costlb_status: unexpected block option %q; it takes none", d.Val())
	}
	return nil
}

// Interface guards
var (
	_ caddy.Provisioner           = (*StatusHandler)(nil)
	_ caddyhttp.MiddlewareHandler = (*StatusHandler)(nil)
	_ caddyfile.Unmarshaler       = (*StatusHandler)(nil)
)
