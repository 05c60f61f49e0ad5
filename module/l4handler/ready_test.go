package l4handler

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/costlb/costlb/integration/harness"
	"github.com/costlb/costlb/module/internal/moduletest"
)

// readyBlockCaddyfile is the README's gateway backend with a ready block
// ("Chained sites"), in a whole Caddyfile, with the certificate files of ca.
func readyBlockCaddyfile(ca *harness.CA, client *harness.Cert, listen, ready string) string {
	return fmt.Sprintf(`{
	admin off
	costlb {
		site A
		link A B
	}
	layer4 {
		%s {
			route {
				costlb {
					name orders-db
					backend B 127.0.0.1:5432 {
						tls
						tls_trust_pool file %s
						tls_client_auth %s %s
						ready %s {
							tls_trust_pool file %s
							tls_client_auth %s %s
							tls_server_name status.b.example.net
							header Authorization "Bearer {env.COSTLB_TEST_TOKEN}"
							header X-Site A
						}
					}
				}
			}
		}
	}
}
`, listen, ca.CertFile, client.CertFile, client.KeyFile, ready, ca.CertFile, client.CertFile, client.KeyFile)
}

// TestReadyBlockAdaptsAndLoads: the README's ready block adapts to the
// documented JSON (ready, ready_tls, ready_headers), and that JSON
// validates as is.
func TestReadyBlockAdaptsAndLoads(t *testing.T) {
	t.Setenv("COSTLB_TEST_TOKEN", "tok")
	ca := harness.NewCA(t, "ca")
	client := ca.Issue(t, "a", []string{"a.example.net"})
	cf := readyBlockCaddyfile(ca, client, "127.0.0.1:0", "https://b.example.net:9180/ready/orders-db")
	out, _, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), nil)
	if err != nil {
		t.Fatalf("adapt: %v", err)
	}
	var doc struct {
		Apps struct {
			Layer4 struct {
				Servers map[string]struct {
					Routes []struct {
						Handle []json.RawMessage `json:"handle"`
					} `json:"routes"`
				} `json:"servers"`
			} `json:"layer4"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	var h struct {
		Backends []map[string]json.RawMessage `json:"backends"`
	}
	for _, s := range doc.Apps.Layer4.Servers {
		_ = json.Unmarshal(s.Routes[0].Handle[0], &h)
	}
	if len(h.Backends) != 1 {
		t.Fatalf("adapted to %s", out)
	}
	b := h.Backends[0]
	for field, want := range map[string][]string{
		"ready":         {`"https://b.example.net:9180/ready/orders-db"`},
		"ready_tls":     {`"provider":"file"`, `"pem_files":["` + ca.CertFile + `"]`, `"client_certificate_file":"` + client.CertFile + `"`, `"client_certificate_key_file":"` + client.KeyFile + `"`, `"server_name":"status.b.example.net"`},
		"ready_headers": {`"Authorization":["Bearer {env.COSTLB_TEST_TOKEN}"]`, `"X-Site":["A"]`},
	} {
		for _, w := range want {
			if !strings.Contains(string(b[field]), w) {
				t.Errorf("%s = %s, want it to hold %s", field, b[field], w)
			}
		}
	}
	if err := pvValidate(string(out)); err != nil {
		t.Fatalf("the adapted config does not load: %v\n%s", err, out)
	}
}

func TestReadyBlockCaddyfileErrors(t *testing.T) {
	in := func(block string) string {
		return "costlb {\n backend west 10.1.0.1:1 {\n  ready https://b:9180/ready/x {\n" + block + "\n  }\n }\n}"
	}
	for _, tc := range []struct {
		name, input string
		want        []string
	}{
		{"unknown option", in("   dial_timeout 3s"), []string{"backend west", `ready: unknown option "dial_timeout"`, "header <field> <value>", "tls_trust_pool"}},
		{"header alone", in("   header"), []string{"header takes a field and a value", "got 0"}},
		{"header without value", in("   header Authorization"), []string{"header takes a field and a value", "got 1"}},
		{"header with three", in("   header Authorization Bearer secret"), []string{"header takes a field and a value", "got 3"}},
		{"header bad field", in("   header \"Auth orization\" x"), []string{`header field "Auth orization"`, "not a valid HTTP header name"}},
		{"header Host", in("   header Host b"), []string{`header field "Host"`, "tls_server_name"}},
		{"header line break", in("   header X-A \"a\nb\""), []string{"header X-A", "control character"}},
		{"tls option without args", in("   tls_server_name"), []string{"backend west", "ready"}},
		{"unknown tls option", in("   tls_bogus 1"), []string{"backend west", "ready", "tls_bogus"}},
		{"block after two URLs", "costlb {\n backend west 10.1.0.1:1 {\n  ready http://ops:S3cret@a/x http://b/x {\n  }\n }\n}", []string{"ready takes exactly one URL", "REDACTED@a"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := unmarshalHandler(tc.input)
			moduletest.CheckErr(t, tc.input, err, tc.want)
			if err != nil && strings.Contains(err.Error(), "S3cret") {
				t.Errorf("error %q shows a password", err)
			}
		})
	}
}

// TestProvisionRefusesReady: what a ready block's JSON holds is checked at
// provisioning, naming the value (but never a header's value).
func TestProvisionRefusesReady(t *testing.T) {
	ca := harness.NewCA(t, "ca")
	client := ca.Issue(t, "a", []string{"a"})
	garbage := filepath.Join(t.TempDir(), "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(t.TempDir(), "missing.pem")
	gw := func(fields string) string {
		return pvConfig(pvNet, "127.0.0.1:0", pvHandler(`"backends": [{"site": "west", "dial": ["127.0.0.1:9001"], `+fields+`}]`))
	}
	auth := func(cert, key string) string {
		return fmt.Sprintf(`"ready": "https://b:9180/ready/x", "ready_tls": {"client_certificate_file": %q, "client_certificate_key_file": %q}`, cert, key)
	}
	for _, tc := range []struct {
		name, config string
		want         []string
	}{
		{"missing certificate file", gw(auth(missing, client.KeyFile)), []string{"backend 127.0.0.1:9001", "tls_client_auth", "certificate file", missing, "no such file"}},
		{"missing key file", gw(auth(client.CertFile, missing)), []string{"tls_client_auth", "key file", missing}},
		{"unreadable certificate", gw(auth(garbage, client.KeyFile)), []string{"TLS client config", "certificate"}},
		{"missing trust pool file", gw(`"ready": "https://b:9180/ready/x", "ready_tls": {"ca": {"provider": "file", "pem_files": [` + fmt.Sprintf("%q", missing) + `]}}`), []string{"TLS client config", missing}},
		{"TLS with http", gw(`"ready": "http://ops:S3cret@b:9180/ready/x", "ready_tls": {"server_name": "b"}`), []string{"need an https:// URL", "REDACTED@b:9180"}},
		{"TLS without ready", gw(`"ready_tls": {"server_name": "b"}`), []string{"ready_tls and ready_headers need a readiness URL"}},
		{"headers without ready", gw(`"ready_headers": {"X-A": ["1"]}`), []string{"need a readiness URL"}},
		{"tls_except_ports", gw(`"ready": "https://b:9180/ready/x", "ready_tls": {"except_ports": ["9180"]}`), []string{"tls_except_ports has no meaning"}},
		{"bad header field", gw(`"ready": "http://b:9180/ready/x", "ready_headers": {"X A": ["1"]}`), []string{`header field "X A"`}},
		{"header line break", gw(`"ready": "http://b:9180/ready/x", "ready_headers": {"X-A": ["S3cret\r\nX-B: 1"]}`), []string{"header X-A", "control character"}},
		{"unset environment variable", gw(`"ready": "http://b:9180/ready/x", "ready_headers": {"Authorization": ["Bearer {env.COSTLB_TEST_UNSET_VAR}"]}`), []string{"header Authorization", "COSTLB_TEST_UNSET_VAR", "not set"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := pvValidate(tc.config)
			moduletest.CheckErr(t, tc.config, err, tc.want)
			if err != nil && strings.Contains(err.Error(), "S3cret") {
				t.Errorf("error %q shows a secret", err)
			}
		})
	}
}

// TestReadyHeadersPlaceholders: header values get their placeholders
// replaced at provisioning.
func TestReadyHeadersPlaceholders(t *testing.T) {
	t.Setenv("COSTLB_TEST_TOKEN", "tok-123")
	cfg := pvConfig(pvNet, harness.FreeAddr(t), pvHandler(`"name": "web", "backends": [{"site": "west", "dial": ["127.0.0.1:9001"],
		"ready": "http://ops:S3cret@127.0.0.1:1/ready/web", "ready_headers": {"Authorization": ["Bearer {env.COSTLB_TEST_TOKEN}"]}}]`))
	h := moduletest.Load[*Handler](t, cfg, "web")
	s := h.readySetups[h.backends[0].cfg] // what the poller polls with (gateway.Load)
	if got := s.Header.Get("Authorization"); got != "Bearer tok-123" {
		t.Errorf("Authorization %q, want Bearer tok-123", got)
	}
	v := h.View()
	out, _ := json.Marshal(v)
	if strings.Contains(string(out), "S3cret") || strings.Contains(string(out), "tok-123") || !strings.Contains(string(out), `"ready_url":"http://REDACTED@127.0.0.1:1/ready/web"`) {
		t.Errorf("view %s: want the URL redacted and no header value", out)
	}
}
