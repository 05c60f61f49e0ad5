package integration

import (
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// TestMTLSChainFailover: site A reaches site B only over mutual TLS, its
// connections and its readiness polls alike. A serves through B; B's
// server dies: within 2 of A's poll intervals every new connection reaches
// A's other site C and none fails from then on; it returns: A returns to
// B within 2 intervals and no connection fails meanwhile.
func TestMTLSChainFailover(t *testing.T) {
	const interval = 500 * time.Millisecond
	p := newMTLSPKI(t)
	b1, c1 := harness.StartBackend(t, "b1"), harness.StartBackend(t, "c1")
	listenA, listenB, statusB := harness.FreeAddr(t), harness.FreeAddr(t), harness.FreeAddr(t)
	const network = "link A B 1\n\t\tlink A C 10"
	harness.StartCaddy(t, mtlsSiteB(p, network, listenB, portOf(t, statusB), "web", b1.Addr()), "caddyfile")
	ca := harness.StartCaddy(t, siteCaddyfile("site A\n"+network, listenA, fmt.Sprintf(`
		name web
		%s
		backend C %s
		health_interval 500ms
		health_timeout 400ms`, mtlsGateway(p, listenB, portOf(t, statusB), "web", p.mtlsReady()), c1.Addr()), ""), "caddyfile")
	waitGateway(t, ca, "web", listenB, true)
	for i := 0; i < 5; i++ {
		if name, err := harness.Once(listenA, dialTimeout); err != nil || name != "b1" {
			t.Fatalf("connection %d through A reached %q (%v), want b1 through B over mTLS", i, name, err)
		}
	}

	b1.Stop()
	killed := time.Now()
	probes := probeUntil(listenA, killed.Add(2*interval), killed.Add(2*interval+time.Second), 20*time.Millisecond)
	took := checkSwitch(t, probes, killed, killed.Add(2*interval), "c1")
	t.Logf("failover over mTLS: the last connection not served by C started %v after B's backend died (bound %v)", took.Round(time.Millisecond), 2*interval)
	gw := mustBackend(t, mustService(t, mustView(t, ca), "web"), listenB)
	if gw.Ready == nil || *gw.Ready || !strings.Contains(gw.NotReadyReason, "503") {
		t.Errorf("gateway after the failover: ready %v, reason %q; want not ready (503: B has no backend; TLS passed)", gw.Ready, gw.NotReadyReason)
	}

	b1.Restart()
	restored := time.Now()
	probes = probeUntil(listenA, restored.Add(2*interval), restored.Add(2*interval+time.Second), 20*time.Millisecond)
	for _, pr := range probes {
		if pr.err != nil {
			t.Errorf("a connection %v into the failback failed: %v", pr.at.Sub(restored).Round(time.Millisecond), pr.err)
		}
	}
	took = checkSwitch(t, probes, restored, restored.Add(2*interval), "b1")
	t.Logf("failback over mTLS: the last connection not served by B started %v after B's backend returned (bound %v)", took.Round(time.Millisecond), 2*interval)
}

// TestMTLSIngressRefusesStrangers: B's ingress and status site serve only
// clients with a certificate of the sites' CA: without one, with another
// CA's, or in plain TCP, a client gets nothing from B's backend.
func TestMTLSIngressRefusesStrangers(t *testing.T) {
	p := newMTLSPKI(t)
	b1 := harness.StartBackend(t, "b1")
	listenB, statusB := harness.FreeAddr(t), harness.FreeAddr(t)
	harness.StartCaddy(t, mtlsSiteB(p, "link A B", listenB, portOf(t, statusB), "web", b1.Addr()), "caddyfile")
	greet := func(certs ...tls.Certificate) (string, error) {
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: dialTimeout}, "tcp", listenB,
			&tls.Config{ServerName: "localhost", RootCAs: p.ca.Pool, Certificates: certs})
		if err != nil {
			return "", err
		}
		defer conn.Close()
		_ = conn.SetDeadline(time.Now().Add(dialTimeout))
		line := make([]byte, 64)
		n, err := conn.Read(line)
		return strings.TrimSpace(string(line[:n])), err
	}
	harness.WaitFor(t, 10*time.Second, func() bool { name, err := greet(p.a.TLS); return err == nil && strings.Contains(name, "b1") },
		"a site's certificate reaches b1 through B's ingress")
	for what, certs := range map[string][]tls.Certificate{"no certificate": nil, "another CA's certificate": {p.stranger.TLS}, "an expired certificate": {p.expired.TLS}} {
		if name, err := greet(certs...); err == nil || strings.Contains(name, "b1") {
			t.Errorf("a client with %s got %q (err %v) from B's ingress, want refused", what, name, err)
		}
	}
	if name, err := harness.Once(listenB, dialTimeout); err == nil || strings.Contains(name, "b1") {
		t.Errorf("a plain TCP client got %q (err %v) from B's ingress, want refused", name, err)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: p.ca.Pool}}}
	resp, err := client.Get(fmt.Sprintf("https://localhost:%d/status.json", portOf(t, statusB)))
	if err == nil {
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		t.Errorf("B's status site answered a client without a certificate: %s %.80s", resp.Status, body)
	}
}

// TestMTLSPollerFailures: A polls B's status site wrongly in four ways,
// one service each: with the wrong CA, without a client certificate, with
// an expired one, and for the wrong server name. Each gateway is not
// ready, its reason names the TLS failure in A's view and log, and each
// service serves from its other backend.
func TestMTLSPollerFailures(t *testing.T) {
	p := newMTLSPKI(t)
	b1, c1 := harness.StartBackend(t, "b1"), harness.StartBackend(t, "c1")
	listenB, statusB := harness.FreeAddr(t), harness.FreeAddr(t)
	const network = "link A B 1\n\t\tlink A C 10"
	harness.StartCaddy(t, mtlsSiteB(p, network, listenB, portOf(t, statusB), "web", b1.Addr()), "caddyfile")
	port := portOf(t, statusB)
	cases := []struct {
		svc, ready string
		want       []string
		host       string // of the URL; localhost if ""
	}{
		{"wrong-ca", "tls_trust_pool file " + p.other.CertFile + "\n\t\t\ttls_client_auth " + p.a.CertFile + " " + p.a.KeyFile, []string{"TLS:", "unknown authority", "tls_trust_pool"}, ""},
		{"no-cert", "tls_trust_pool file " + p.ca.CertFile, []string{"TLS:", "requires a client certificate", "tls_client_auth"}, ""},
		{"expired-cert", "tls_trust_pool file " + p.ca.CertFile + "\n\t\t\ttls_client_auth " + p.expired.CertFile + " " + p.expired.KeyFile, []string{"TLS:", "expired"}, ""},
		{"wrong-name", p.mtlsReady() + "\n\t\t\ttls_server_name wrong.example", []string{"TLS:", `no certificate for the server name "wrong.example"`}, ""},
		{"ip-url", p.mtlsReady(), []string{"TLS:", `no certificate for the server name "127.0.0.1"`, "DNS name"}, "127.0.0.1"},
		{"sni-not-host", p.mtlsReady() + "\n\t\t\ttls_server_name localhost", []string{"421", "server name to equal the URL's host"}, "127.0.0.1"},
	}
	var routes []l4Route
	listens := map[string]string{}
	for _, c := range cases {
		listens[c.svc] = harness.FreeAddr(t)
		if c.host == "" {
			c.host = "localhost"
		}
		routes = append(routes, costlbRoute(listens[c.svc], `
		name %s
		backend B %s {
			ready https://%s:%d/ready/web {
				%s
			}
		}
		backend C %s
		health_interval 300ms
		health_timeout 1s`, c.svc, listenB, c.host, port, c.ready, c1.Addr()))
	}
	ca := harness.StartCaddy(t, costlbCaddyfile("site A\n"+network, routes...), "caddyfile")
	for _, c := range cases {
		var reason string
		harness.WaitFor(t, 10*time.Second, func() bool {
			gw := mustBackend(t, mustService(t, mustView(t, ca), c.svc), listenB)
			reason = gw.NotReadyReason
			return gw.Ready != nil && !*gw.Ready && reason != "" && reason != "no answer yet"
		}, c.svc+": gateway not ready with a reason")
		for _, w := range c.want {
			if !strings.Contains(reason, w) {
				t.Errorf("%s: reason %q lacks %q", c.svc, reason, w)
			}
		}
		// the view can show the reason a moment before the log line that
		// says it reaches the test through Caddy's output: wait for it
		if err := ca.WaitLog(fmt.Sprintf("%q", reason)[1:len(fmt.Sprintf("%q", reason))-1], 5*time.Second); err != nil {
			t.Errorf("%s: A's log lacks the reason %q: %v", c.svc, reason, err)
		}
		for i := 0; i < 3; i++ {
			if name, err := harness.Once(listens[c.svc], dialTimeout); err != nil || name != "c1" {
				t.Errorf("%s: connection %d reached %q (%v), want c1", c.svc, i, name, err)
			}
		}
	}
}

// TestReadyBearerHeader: B's status site answers only polls that carry
// its bearer token. A's gateway whose ready block sends it, from an
// environment variable, is ready and serves through B; one without it is
// not ready with the 401 in its reason, and serves from its other site.
// The token appears nowhere in A's view or log.
func TestReadyBearerHeader(t *testing.T) {
	const token = "s3cret-b-token"
	t.Setenv("COSTLB_TEST_B_TOKEN", token)
	b1, c1 := harness.StartBackend(t, "b1"), harness.StartBackend(t, "c1")
	listenB, statusB, withHdr, without := harness.FreeAddr(t), harness.FreeAddr(t), harness.FreeAddr(t), harness.FreeAddr(t)
	const network = "link A B 1\n\t\tlink A C 10"
	harness.StartCaddy(t, siteCaddyfile("site B\n"+network, listenB, fmt.Sprintf(`
		name web
		backend B %s`, b1.Addr()), "")+fmt.Sprintf(`
http://%s {
	bind 127.0.0.1
	@nobearer not header Authorization "Bearer %s"
	respond @nobearer 401
	costlb_status
}
`, statusB, token), "caddyfile")
	gateway := func(svc, listen, block string) l4Route {
		return costlbRoute(listen, `
		name %s
		backend B %s {
			ready http://%s/ready/web {
				%s
			}
		}
		backend C %s
		health_interval 300ms
		health_timeout 1s`, svc, listenB, statusB, block, c1.Addr())
	}
	ca := harness.StartCaddy(t, costlbCaddyfile("site A\n"+network,
		gateway("with-header", withHdr, `header Authorization "Bearer {env.COSTLB_TEST_B_TOKEN}"`),
		gateway("without-header", without, "")), "caddyfile")
	waitGateway(t, ca, "with-header", listenB, true)
	if name, err := harness.Once(withHdr, dialTimeout); err != nil || name != "b1" {
		t.Errorf("with the header: reached %q (%v), want b1 through B", name, err)
	}
	var reason string
	harness.WaitFor(t, 10*time.Second, func() bool {
		gw := mustBackend(t, mustService(t, mustView(t, ca), "without-header"), listenB)
		reason = gw.NotReadyReason
		return gw.Ready != nil && !*gw.Ready && strings.Contains(reason, "401")
	}, "without the header: not ready, 401")
	if !strings.Contains(reason, "credentials") || !strings.Contains(ca.Logs(), "401 Unauthorized: the gateway wants credentials") {
		t.Errorf("reason %q (and A's log) should say the gateway wants credentials", reason)
	}
	if name, err := harness.Once(without, dialTimeout); err != nil || name != "c1" {
		t.Errorf("without the header: reached %q (%v), want c1", name, err)
	}
	_, body, err := fetchView(ca)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(body), token) || strings.Contains(ca.Logs(), token) {
		t.Errorf("the token shows in A's view or log")
	}
}

// TestReadyURLRedacted: B's status site is behind basic_auth, which A's
// readiness URL passes with a user and password. A is ready through it,
// and the password shows nowhere: not in A's /costlb/, its status.json,
// its status page's data, or its log lines, which show the URL REDACTED.
func TestReadyURLRedacted(t *testing.T) {
	const password = "costlb-demo" // the hash below is caddy hash-password's
	const hash = "$2a$14$WnmoZfVgjxCZu/8bslaxpuOBTfYqeC7xE/5Xb3Ycd6aW/SB92ndhy"
	b1, c1 := harness.StartBackend(t, "b1"), harness.StartBackend(t, "c1")
	listenA, listenB, statusA, statusB := harness.FreeAddr(t), harness.FreeAddr(t), harness.FreeAddr(t), harness.FreeAddr(t)
	const network = "link A B 1\n\t\tlink A C 10"
	harness.StartCaddy(t, siteCaddyfile("site B\n"+network, listenB, "name web\n\t\tbackend B "+b1.Addr(), "")+fmt.Sprintf(`
http://%s {
	bind 127.0.0.1
	basic_auth {
		ops %s
	}
	costlb_status
}
`, statusB, hash), "caddyfile")
	ca := harness.StartCaddy(t, siteCaddyfile("site A\n"+network, listenA, fmt.Sprintf(`
		name web
		backend B %s {
			ready http://ops:%s@%s/ready/web
		}
		backend C %s
		health_interval 300ms`, listenB, password, statusB, c1.Addr()), statusA), "caddyfile")
	waitGateway(t, ca, "web", listenB, true)
	if name, err := harness.Once(listenA, dialTimeout); err != nil || name != "b1" {
		t.Errorf("through A: %q (%v), want b1 through B's basic_auth'd readiness", name, err)
	}
	want := "http://REDACTED@" + statusB + "/ready/web"
	_, view, err := fetchView(ca)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := statusClient.Get("http://" + statusA + "/status.json")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for what, text := range map[string]string{"/costlb/": string(view), "status.json": string(page)} {
		if strings.Contains(text, password) || !strings.Contains(text, `"ready_url": "`+want+`"`) && !strings.Contains(text, `"ready_url":"`+want+`"`) {
			t.Errorf("%s: want ready_url %s and no password:\n%.600s", what, want, text)
		}
	}
	logs := ca.Logs()
	if strings.Contains(logs, password) || !strings.Contains(logs, `"ready_url":"`+want+`"`) {
		t.Errorf("A's log: want the gateway ready line with %s and no password", want)
	}
}
