package integration

import (
	"fmt"
	"net"
	"testing"

	"github.com/costlb/costlb/integration/harness"
)

// Sites that trust each other only over mutual TLS: every site's
// certificates come from one private CA made in the test; B's ingress
// listener and status site require a client certificate from it.

// mtlsPKI is the private CA of a multi-site test and its certificates.
type mtlsPKI struct {
	ca, other *harness.CA
	// b is B's certificate, for localhost (with client auth, Caddy wants
	// the TLS server name to equal the Host, so URLs use the DNS name)
	b *harness.Cert
	// a is A's client certificate; expired an expired one of the same CA;
	// stranger one of another CA
	a, expired, stranger *harness.Cert
}

func newMTLSPKI(t *testing.T) mtlsPKI {
	ca, other := harness.NewCA(t, "costlb-test-ca"), harness.NewCA(t, "other-ca")
	return mtlsPKI{
		ca: ca, other: other,
		b:        ca.Issue(t, "b", []string{"localhost"}),
		a:        ca.Issue(t, "a", []string{"site-a"}),
		expired:  ca.Issue(t, "a-expired", []string{"site-a"}, harness.Expired()),
		stranger: other.Issue(t, "stranger", []string{"site-a"}),
	}
}

// mtlsSiteB is site B's Caddyfile: its ingress on listen (caddy-l4's tls
// handler, client certificates required) serves svc from backend, and
// its costlb_status at https://localhost:<statusPort> requires a client
// certificate too.
func mtlsSiteB(p mtlsPKI, network, listen string, statusPort int, svc, backend string) string {
	return fmt.Sprintf(`{
	admin {ADMIN}
	auto_https disable_redirects
	costlb {
		site B
		%s
	}
	layer4 {
		%s {
			route {
				tls {
					connection_policy {
						client_auth {
							mode require_and_verify
							trust_pool file %s
						}
					}
				}
				costlb {
					name %s
					backend B %s
					health_interval 100ms
					health_timeout 100ms
				}
			}
		}
	}
}

https://localhost:%d {
	bind 127.0.0.1
	tls %s %s {
		client_auth {
			mode require_and_verify
			trust_pool file %s
		}
	}
	costlb_status
}
`, network, listen, p.ca.CertFile, svc, backend, statusPort, p.b.CertFile, p.b.KeyFile, p.ca.CertFile)
}

// mtlsGateway is a backend of site A in site B over mTLS: the data plane
// to B's ingress at listen, and polls of B's status at statusPort, both
// with A's certificate. ready holds the ready block's lines.
func mtlsGateway(p mtlsPKI, listen string, statusPort int, svc, ready string) string {
	return fmt.Sprintf(`backend B %s {
		tls
		tls_server_name localhost
		tls_trust_pool file %s
		tls_client_auth %s %s
		ready https://localhost:%d/ready/%s {
			%s
		}
	}`, listen, p.ca.CertFile, p.a.CertFile, p.a.KeyFile, statusPort, svc, ready)
}

// mtlsReady is the ready block of a poll with A's certificate.
func (p mtlsPKI) mtlsReady() string {
	return fmt.Sprintf("tls_trust_pool file %s\n\t\t\ttls_client_auth %s %s", p.ca.CertFile, p.a.CertFile, p.a.KeyFile)
}

// portOf returns the port of a host:port address.
func portOf(t *testing.T, addr string) int {
	t.Helper()
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	var n int
	fmt.Sscan(port, &n)
	return n
}
