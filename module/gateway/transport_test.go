package gateway

import (
	"crypto/tls"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	cfile "github.com/costlb/costlb/caddyfile"
	"github.com/costlb/costlb/integration/harness"
)

// tlsGateway starts an HTTPS server with cert whose every answer is a
// 503 (not ready) once it passed TLS and, if token is set, a check of the
// Authorization header (401 without it). clientCAs, when set, makes it
// require a client certificate from that CA. It returns the URL of its
// readiness path, on host.
func tlsGateway(t *testing.T, cert *harness.Cert, clientCA *harness.CA, token, host string) string {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert.TLS}}
	if clientCA != nil {
		srv.TLS.ClientAuth, srv.TLS.ClientCAs = tls.RequireAndVerifyClientCert, clientCA.Pool
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return "https://" + strings.Replace(srv.Listener.Addr().String(), "127.0.0.1", host, 1) + "/ready/web"
}

// pollOnce starts a poller of url with setup and returns its first
// answer's reason and the poller's log lines.
func pollOnce(t *testing.T, url string, setup *Setup) (string, *observer.ObservedLogs) {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	g := start(Spec{Service: "web", Upstream: "10.1.0.1:80", Local: "A", URL: url, Shown: cfile.RedactURL(url),
		Interval: 20 * time.Millisecond, Timeout: 2 * time.Second, Setup: setup}, zap.New(core))
	t.Cleanup(func() { g.stop() })
	r := waitAnswer(t, g, "an answer", func(r Readiness) bool { return r.Reason != "no answer yet" })
	return r.Reason, logs
}

// TestPollTLSReasons: every way a poll fails in TLS is "not ready" with a
// reason that names it, in the state and in the log line; a poll that
// passes TLS and the header check reaches the answer.
func TestPollTLSReasons(t *testing.T) {
	ca, other := harness.NewCA(t, "ca"), harness.NewCA(t, "other")
	server := ca.Issue(t, "server", []string{"localhost", "127.0.0.1"})
	client := ca.Issue(t, "client", []string{"site-a"})
	strangerClient := other.Issue(t, "stranger", []string{"site-a"})
	expiredClient := ca.Issue(t, "expired-client", []string{"site-a"}, harness.Expired())
	expiredServer := ca.Issue(t, "expired-server", []string{"localhost"}, harness.Expired())
	misnamed := ca.Issue(t, "misnamed", []string{"elsewhere.example"})
	trust := func(c ...tls.Certificate) *Setup {
		return &Setup{TLS: &tls.Config{RootCAs: ca.Pool, Certificates: c}}
	}
	bearer := trust(client.TLS)
	bearer.Header = http.Header{"Authorization": {"Bearer s3cret-token"}}
	for _, tc := range []struct {
		name  string
		url   string
		setup *Setup
		want  []string
	}{
		{"wrong CA", tlsGateway(t, server, nil, "", "localhost"), &Setup{TLS: &tls.Config{RootCAs: other.Pool}}, []string{"TLS:", "unknown authority", "tls_trust_pool"}},
		{"system roots", tlsGateway(t, server, nil, "", "localhost"), nil, []string{"TLS:", "unknown authority"}},
		{"name mismatch", tlsGateway(t, misnamed, nil, "", "localhost"), trust(), []string{"TLS: name mismatch", "localhost", "tls_server_name"}},
		{"expired server certificate", tlsGateway(t, expiredServer, nil, "", "localhost"), trust(), []string{"TLS:", "expired"}},
		{"no client certificate", tlsGateway(t, server, ca, "", "localhost"), trust(), []string{"TLS:", "requires a client certificate", "tls_client_auth", "certificate required"}},
		{"expired client certificate", tlsGateway(t, server, ca, "", "localhost"), trust(expiredClient.TLS), []string{"TLS:", "refused our client certificate", "expired"}},
		{"client certificate of another CA", tlsGateway(t, server, ca, "", "localhost"), trust(strangerClient.TLS), []string{"TLS:", "got none it accepts", "tls_client_auth"}},
		{"plain HTTP gateway", "https://" + strings.TrimPrefix(httptest.NewServer(http.NotFoundHandler()).URL, "http://"), trust(), []string{"TLS:", "plain HTTP"}},
		{"no header", tlsGateway(t, server, ca, "s3cret-token", "localhost"), trust(client.TLS), []string{"401", "credentials", "header"}},
		{"mTLS and header pass", tlsGateway(t, server, ca, "s3cret-token", "localhost"), bearer, []string{"answered 503"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reason, logs := pollOnce(t, tc.url, tc.setup)
			for _, w := range tc.want {
				if !strings.Contains(reason, w) {
					t.Errorf("reason %q lacks %q", reason, w)
				}
			}
			if strings.Contains(reason, "s3cret") {
				t.Errorf("reason %q shows the header value", reason)
			}
			waitFor(t, func() bool { return logs.Len() > 0 }, func() string { return "a not ready log line" })
			if e := logs.All()[0]; e.Message != "costlb gateway not ready" || e.ContextMap()["reason"] != reason {
				t.Errorf("log line %q %v, want not ready with reason %q", e.Message, e.ContextMap(), reason)
			}
		})
	}
}

// TestPollRedactsURL: a readiness URL's credentials appear in no log line
// (which shows Spec.Shown, made as l4handler makes it) and no reason.
func TestPollRedactsURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if u, p, ok := r.BasicAuth(); !ok || u != "ops" || p != "S3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(srv.Close)
	for _, url := range []string{
		strings.Replace(srv.URL, "http://", "http://ops:S3cret@", 1) + "/ready/web",
		"http://ops:S3cret@127.0.0.1:1/ready/web", // refused
	} {
		reason, logs := pollOnce(t, url, nil)
		waitFor(t, func() bool { return logs.Len() > 0 }, func() string { return "a log line" })
		e := logs.All()[0]
		shown := e.ContextMap()["ready_url"].(string)
		if strings.Contains(reason, "S3cret") || strings.Contains(shown, "S3cret") || strings.Contains(shown, "ops") {
			t.Errorf("credentials shown: reason %q, ready_url %q", reason, shown)
		}
		if !strings.Contains(shown, "REDACTED@") {
			t.Errorf("ready_url %q, want the userinfo REDACTED", shown)
		}
	}
	// basic auth from the URL is sent: the answer is the 503, not a 401
	if reason, _ := pollOnce(t, strings.Replace(srv.URL, "http://", "http://ops:S3cret@", 1)+"/ready/web", nil); !strings.Contains(reason, "503") {
		t.Errorf("reason %q, want the 503 behind basic auth", reason)
	}
}

// TestReloadSwapsPollSetup: a config that keeps a gateway (same poller)
// with new TLS settings polls with them from then on, as a certificate
// rotation by reload does, and keeps the poller.
func TestReloadSwapsPollSetup(t *testing.T) {
	ca := harness.NewCA(t, "ca")
	url := tlsGateway(t, ca.Issue(t, "server", []string{"localhost"}), ca, "", "localhost")
	client := ca.Issue(t, "client", []string{"site-a"})
	spec := Spec{Service: "web", Upstream: "10.1.0.1:80", Local: "A", URL: url,
		Interval: 20 * time.Millisecond, Timeout: 2 * time.Second, Setup: &Setup{TLS: &tls.Config{RootCAs: ca.Pool}}}
	g := Load(spec, zap.NewNop())
	t.Cleanup(func() { g.Release() })
	waitAnswer(t, g, "no client certificate", func(r Readiness) bool { return strings.Contains(r.Reason, "certificate required") })
	spec.Setup = &Setup{TLS: &tls.Config{RootCAs: ca.Pool, Certificates: []tls.Certificate{client.TLS}}}
	again := Load(spec, zap.NewNop())
	t.Cleanup(func() { again.Release() })
	if again != g {
		t.Fatal("the reload started a new poller")
	}
	waitAnswer(t, g, "past TLS with the new certificate", func(r Readiness) bool { return strings.Contains(r.Reason, "answered 503") })
}
