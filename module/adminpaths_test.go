package module_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/costlb/costlb/integration/harness"
	. "github.com/costlb/costlb/module"
	"github.com/costlb/costlb/module/internal/moduletest"
	"github.com/costlb/costlb/module/l4handler"
)

// chainViewConfig is a config whose network is a chain c0-c1-...-c<n-1>
// seen from c0, plus an island x-y, with one service whose backends are in
// c0 and c<far>.
func chainViewConfig(t *testing.T, n, far int) string {
	t.Helper()
	var links []string
	for i := range n - 1 {
		links = append(links, fmt.Sprintf(`{"between": ["c%d", "c%d"]}`, i, i+1))
	}
	links = append(links, `{"between": ["x", "y"]}`)
	return fmt.Sprintf(`{
	"admin": {"disabled": true},
	"apps": {
		"costlb": {"site": "c0", "links": [%s]},
		"layer4": {"servers": {"s": {"listen": [%q], "routes": [{"handle": [{
			"handler": "costlb", "name": "svc",
			"backends": [{"site": "c0", "dial": [%q]}, {"site": "c%d", "dial": [%q]}]
		}]}]}}}
	}
}`, strings.Join(links, ", "), harness.FreeAddr(t), harness.FreeAddr(t), far, harness.FreeAddr(t))
}

// getView serves GET target on the costlb admin API and returns the status
// and body, or the API error.
func getView(t *testing.T, target string) (*httptest.ResponseRecorder, error) {
	t.Helper()
	rec := httptest.NewRecorder()
	err := ServeAdmin(rec, httptest.NewRequest(http.MethodGet, target, nil))
	return rec, err
}

func TestAdminViewPathsOnlyWhereShown(t *testing.T) {
	const n, far = 300, 250
	moduletest.Load[*l4handler.Handler](t, chainViewConfig(t, n, far), "svc")
	rec, err := getView(t, "/costlb/")
	if err != nil {
		t.Fatal(err)
	}
	var v View
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	if len(v.Sites) != n+2 {
		t.Fatalf("%d sites, want %d", len(v.Sites), n+2)
	}
	for i, s := range v.Sites {
		if i < n {
			if want := fmt.Sprintf("c%d", i); s.Name != want || s.PathCost != int64(i) || s.Hops != i || !s.Reachable {
				t.Fatalf("site %d = %+v, want %s at path cost and hops %d, reachable", i, s, want, i)
			}
		} else if s.Reachable || s.Path != nil {
			t.Fatalf("island site %+v: want unreachable, no path", s)
		}
		switch {
		case i == 0:
			if len(s.Path) != 1 || s.Path[0] != "c0" {
				t.Errorf("local site path %q, want [c0]", s.Path)
			}
		case i == far:
			if len(s.Path) != far+1 || s.Path[0] != "c0" || s.Path[far] != s.Name {
				t.Errorf("backend site %s: path of %d sites, want %d from c0", s.Name, len(s.Path), far+1)
			}
		case s.Path != nil:
			t.Errorf("site %s has no backend but shows a path of %d sites", s.Name, len(s.Path))
		}
	}
	if bytes.Contains(rec.Body.Bytes(), []byte(`"path": null`)) {
		t.Error(`the view has "path": null entries; a site without a shown path has no path field`)
	}
}

// TestAdminViewAllPaths: ?paths=all gives every reachable site its path,
// in exactly the encoding of the default view (indented, one trailing
// newline), though it is written site by site.
func TestAdminViewAllPaths(t *testing.T) {
	const n, far = 120, 7
	moduletest.Load[*l4handler.Handler](t, chainViewConfig(t, n, far), "svc")
	rec, err := getView(t, "/costlb/?paths=all")
	if err != nil {
		t.Fatal(err)
	}
	app := RunningApp()
	want := app.View()
	for i := range want.Sites {
		if want.Sites[i].Reachable {
			want.Sites[i].Path = app.Path(want.Sites[i].Name)
		}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	if err := enc.Encode(want); err != nil {
		t.Fatal(err)
	}
	if got := rec.Body.String(); got != buf.String() {
		t.Fatalf("?paths=all body differs from the encoded view with every path:\n got %.400q\nwant %.400q", got, buf.String())
	}
	var v View
	if err := json.Unmarshal(rec.Body.Bytes(), &v); err != nil {
		t.Fatal(err)
	}
	last := v.Sites[n-1]
	if last.Name != fmt.Sprintf("c%d", n-1) || len(last.Path) != n || last.Path[n/2] != fmt.Sprintf("c%d", n/2) {
		t.Fatalf("last chain site %s: path of %d sites, want %d", last.Name, len(last.Path), n)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
}

func TestAdminViewPathsParamRefused(t *testing.T) {
	moduletest.Load[*l4handler.Handler](t, chainViewConfig(t, 3, 2), "svc")
	_, err := getView(t, "/costlb/?paths=some")
	var apiErr caddy.APIError
	if !errors.As(err, &apiErr) || apiErr.HTTPStatus != http.StatusBadRequest {
		t.Fatalf("?paths=some: %v, want a 400 API error", err)
	}
	for _, w := range []string{`paths="some"`, "paths=all"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not contain %q", err, w)
		}
	}
}
