package module

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// Paths in GET /costlb/: the path of every site of a chain of n sites adds
// up to n²/2 names, so by default the view gives the path only of the
// local site and of the sites where some service has a backend; every
// other site still has its path_cost, hops and reachable. GET
// /costlb/?paths=all gives every path, written site by site so that Caddy
// never holds all of them at once.

// allPathsParam reads the paths query parameter: "" (the default view) or
// "all"; anything else is an error naming the value and what is allowed.
func allPathsParam(r *http.Request) (bool, error) {
	switch v := r.URL.Query().Get("paths"); v {
	case "":
		return false, nil
	case "all":
		return true, nil
	default:
		return false, fmt.Errorf("paths=%q: the only value is paths=all (the path of every site); without it, paths are given for the local site and the sites with backends", v)
	}
}

// shownPaths returns the sites whose path the default view gives: the
// local site and every site with a backend in some service.
func (a *App) shownPaths(services []ServiceView) map[string]bool {
	shown := map[string]bool{a.Site: true}
	for _, sv := range services {
		for _, b := range sv.Backends {
			shown[b.Site] = true
		}
	}
	return shown
}

// sitesMarker is how the indented encoding of a View with no sites shows
// them: a JSON string holds no raw newline, so it occurs once, at the top
// level.
var sitesMarker = []byte("\n  \"sites\": [],\n")

// writeViewAllPaths writes v like the default view, indented the same way,
// with the path of every reachable site. Each site's entry is built and
// written in turn, so memory stays proportional to one path.
func (a *App) writeViewAllPaths(w io.Writer, v View) error {
	sites := v.Sites
	v.Sites = []SiteView{}
	doc, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	cut := bytes.Index(doc, sitesMarker)
	if cut < 0 {
		return fmt.Errorf("costlb view: no sites field in %.80q", doc)
	}
	if _, err := w.Write(doc[:cut]); err != nil {
		return err
	}
	if _, err := io.WriteString(w, "\n  \"sites\": ["); err != nil {
		return err
	}
	for i, s := range sites {
		if s.Reachable && s.Path == nil {
			s.Path = a.livePaths().Path(s.Name)
		}
		entry, err := json.MarshalIndent(s, "    ", "  ")
		if err != nil {
			return err
		}
		sep := ",\n    "
		if i == 0 {
			sep = "\n    "
		}
		if _, err := io.WriteString(w, sep); err != nil {
			return err
		}
		if _, err := w.Write(entry); err != nil {
			return err
		}
	}
	if len(sites) > 0 {
		if _, err := io.WriteString(w, "\n  "); err != nil {
			return err
		}
	}
	if _, err := io.WriteString(w, "],\n"); err != nil {
		return err
	}
	_, err = w.Write(append(doc[cut+len(sitesMarker):], '\n'))
	return err
}
