package integration

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// exampleCerts makes, in dir/certs, the files examples/mtls/make-certs.sh
// makes: the CA (ca.pem) and the certificates of sites a and b, for
// localhost. It returns the CA.
func exampleCerts(t *testing.T, dir string) *harness.CA {
	t.Helper()
	ca := harness.NewCA(t, "costlb example CA")
	certs := filepath.Join(dir, "certs")
	if err := os.MkdirAll(certs, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{"ca.pem": ca.CertFile}
	for _, site := range []string{"a", "b"} {
		c := ca.Issue(t, "site-"+site, []string{"localhost"})
		files[site+".pem"], files[site+".key"] = c.CertFile, c.KeyFile
	}
	for name, from := range files {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(certs, name), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return ca
}

// TestMTLSExample runs examples/mtls as its README says (ports moved,
// certificates made in the test where make-certs.sh puts them): a's
// clients are served by a's server; every connection to b and every poll
// of b's readiness is mutual TLS, which b refuses to a client without a
// certificate; the status pages want the password; a's server goes, and
// a's clients are served by b.
func TestMTLSExample(t *testing.T) {
	dir := t.TempDir()
	ca := exampleCerts(t, dir)
	ports := map[string]string{}
	load := func(name string) string {
		return strings.ReplaceAll(example(t, "mtls/"+name, ports), "certs/", filepath.Join(dir, "certs")+"/")
	}
	harness.StartCaddy(t, load("b.Caddyfile"), "caddyfile")
	cA := harness.StartCaddy(t, load("a.Caddyfile"), "caddyfile")
	addr := func(p string) string { return "127.0.0.1" + ports[p] }
	local := func(p string) string { return "https://localhost" + ports[p] }

	if got, err := httpVia(addr(":8580")); err != nil || got != "a" {
		t.Fatalf("site a's first request answered %q %v, want a", got, err)
	}
	waitGateway(t, cA, "web", addr(":8491"), true)

	// b's ingress and readiness refuse a client without a certificate
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: dialTimeout}, "tcp", addr(":8491"), &tls.Config{ServerName: "localhost", RootCAs: ca.Pool})
	if err == nil {
		_ = conn.SetDeadline(time.Now().Add(dialTimeout))
		_, err = fmt.Fprint(conn, "GET / HTTP/1.0\r\n\r\n")
		if err == nil {
			var b []byte
			b, err = io.ReadAll(conn)
			if err == nil && len(b) > 0 {
				t.Errorf("b's ingress served a client without a certificate: %q", b)
			}
		}
		conn.Close()
	}
	noCert := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: ca.Pool}}}
	if resp, err := noCert.Get(local(":9491") + "/ready/web-ingress"); err == nil {
		resp.Body.Close()
		t.Errorf("b's readiness answered a client without a certificate: %s", resp.Status)
	}
	// the status pages: 401 without the password, the page with it
	for _, page := range []string{local(":9582"), local(":9492")} {
		resp, err := noCert.Get(page + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s/ without the password: %s, want 401", page, resp.Status)
		}
		req, _ := http.NewRequest(http.MethodGet, page+"/status.json", nil)
		req.SetBasicAuth("ops", "costlb-demo")
		resp, err = noCert.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"services"`) {
			t.Errorf("%s/status.json with the password: %s %.100s", page, resp.Status, body)
		}
	}

	// a's server goes: a's clients are served by b, over mTLS
	if status, body, err := cA.Delete("/config/apps/http/servers/demo-a"); err != nil || status != 200 {
		t.Fatalf("deleting demo-a: %d %v %s", status, err, body)
	}
	if got, err := httpVia(addr(":8580")); err != nil || got != "b" {
		t.Errorf("site a's request after its server went answered %q %v, want b", got, err)
	}
}
