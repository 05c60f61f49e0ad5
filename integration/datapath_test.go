package integration

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/costlb/costlb/integration/harness"
)

// The data path against real Caddy processes: each upstream option costlb
// honours, on real TCP (and unix) connections.

// echoRest half-closes c after writing msg and returns what the backend
// sends back until its own half-close.
func echoRest(t testing.TB, c net.Conn, msg string) string {
	t.Helper()
	_ = c.SetDeadline(time.Now().Add(relTimeout))
	if _, err := io.WriteString(c, msg); err != nil {
		t.Fatalf("write: %v", err)
	}
	closeWrite(c)
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("reading the echo: %v (got %q)", err, got)
	}
	return string(got)
}

// TestUpstreamTLS: "tls" on a backend makes costlb speak TLS to it, with
// the server name and trust pool configured; a backend whose certificate
// the trust pool does not vouch for is a failed dial.
func TestUpstreamTLS(t *testing.T) {
	ca := newTestCA(t)
	good := startInfoBackend(t, "tlsb", tls.NewListener(listenTCP(t, "127.0.0.1:0"), ca.serverConfig()), false)
	untrusted := startInfoBackend(t, "untrusted", tls.NewListener(listenTCP(t, "127.0.0.1:0"), ca.serverConfig()), false)
	l1, l2 := harness.FreeAddr(t), harness.FreeAddr(t)
	c := harness.StartCaddy(t, costlbCaddyfile("site east",
		l4Route{l1, fmt.Sprintf(`costlb {
			name tlsup
			backend east %s {
				tls
				tls_server_name backend.test
				tls_trust_pool file %s
			}
		}`, good.Addr(), ca.caFile)},
		l4Route{l2, fmt.Sprintf(`costlb {
			name untrusted
			backend east %s {
				tls
			}
			fail_duration 1m
		}`, untrusted.Addr())},
	), "caddyfile")

	line, conn := greetLine(t, l1)
	defer conn.Close()
	if !strings.HasPrefix(line, "tlsb ") || field(line, "sni") != "backend.test" {
		t.Fatalf("greeting %q: want the TLS backend, server name backend.test", line)
	}
	if got := echoRest(t, conn, "over TLS"); got != "over TLS" {
		t.Fatalf("echo through upstream TLS: %q", got)
	}

	bad, err := net.DialTimeout("tcp", l2, relTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	_ = bad.SetReadDeadline(time.Now().Add(relTimeout))
	if n, err := bad.Read(make([]byte, 1)); n != 0 || err == nil {
		t.Fatalf("a backend with an untrusted certificate served the client (%d bytes, %v)", n, err)
	}
	if ci := untrusted.last(t); ci.err == nil {
		t.Fatal("the untrusted backend completed a TLS handshake")
	}
	if b := mustBackend(t, mustService(t, mustView(t, c), "untrusted"), untrusted.Addr()); b.Healthy {
		t.Fatal("a failed TLS handshake is not a passive failure")
	}
	waitAllLiveZero(t, c, relTimeout)
}

// TestProxyProtocolV1V2: proxy_protocol v1 and v2 send the client's
// address in a PROXY header the backend can parse, before any data.
func TestProxyProtocolV1V2(t *testing.T) {
	onDataPaths(t, func(t *testing.T, route routeFunc) {
		b1 := startInfoBackend(t, "ppv1", listenTCP(t, "127.0.0.1:0"), true)
		b2 := startInfoBackend(t, "ppv2", listenTCP(t, "127.0.0.1:0"), true)
		l1, l2 := harness.FreeAddr(t), harness.FreeAddr(t)
		c := harness.StartCaddy(t, costlbCaddyfile("site east",
			route(l1, `
				backend east %s
				proxy_protocol v1`, b1.Addr()),
			route(l2, `
				backend east %s
				proxy_protocol v2`, b2.Addr()),
		), "caddyfile")
		for _, tc := range []struct {
			listen string
			b      *infoBackend
		}{{l1, b1}, {l2, b2}} {
			line, conn := greetLine(t, tc.listen)
			if ci := tc.b.last(t); ci.err != nil {
				t.Fatalf("%s: PROXY header: %v", tc.b.name, ci.err)
			}
			if got, want := field(line, "proxy"), conn.LocalAddr().String(); got != want {
				t.Fatalf("%s: PROXY header source %q, want the client's address %q", tc.b.name, got, want)
			}
			if got := echoRest(t, conn, "after the header"); got != "after the header" {
				t.Fatalf("%s: echo after the PROXY header: %q", tc.b.name, got)
			}
			conn.Close()
		}
		waitAllLiveZero(t, c, relTimeout)
	})
}

// TestLocalAddr: local_addr makes costlb dial the backend from that address.
func TestLocalAddr(t *testing.T) {
	onDataPaths(t, func(t *testing.T, route routeFunc) {
		b := startInfoBackend(t, "la", listenTCP(t, "127.0.0.1:0"), false)
		listen := harness.FreeAddr(t)
		harness.StartCaddy(t, costlbCaddyfile("site east",
			route(listen, `
				backend east %s {
					local_addr 127.0.0.3
				}`, b.Addr()),
		), "caddyfile")
		for i := 0; i < 3; i++ {
			line, conn := greetLine(t, listen)
			conn.Close()
			if host, _, _ := net.SplitHostPort(field(line, "remote")); host != "127.0.0.3" {
				t.Fatalf("backend saw the connection from %q, want 127.0.0.3 (local_addr)", field(line, "remote"))
			}
		}
	})
}

// TestUnixSocketBackend: a unix socket backend is proxied like a TCP one,
// half-close included.
func TestUnixSocketBackend(t *testing.T) {
	b := startInfoBackend(t, "unixb", listenUnix(t), false)
	listen := harness.FreeAddr(t)
	c := harness.StartCaddy(t, costlbCaddyfile("site east",
		costlbRoute(listen, `
			name u
			backend east %s`, b.Addr()),
	), "caddyfile")
	for i := 0; i < 5; i++ {
		line, conn := greetLine(t, listen)
		if !strings.HasPrefix(line, "unixb ") {
			t.Fatalf("greeting %q, want the unix backend", line)
		}
		payload := strings.Repeat(fmt.Sprintf("unix %d ", i), 20000)
		if got := echoRest(t, conn, payload); got != payload {
			t.Fatalf("echo over the unix socket: %d bytes back, want %d", len(got), len(payload))
		}
		conn.Close()
	}
	if n := b.accepted.Load(); n != 5 {
		t.Fatalf("unix backend accepted %d connections, want 5", n)
	}
	waitAllLiveZero(t, c, relTimeout)
}

// TestPrefetchingMatchers: bytes layer4 matchers read before costlb runs
// (the http matcher's request, the tls matcher's ClientHello) reach the
// backend first and intact.
func TestPrefetchingMatchers(t *testing.T) {
	for _, dp := range dataPaths {
		t.Run(dp, func(t *testing.T) {
			ca := newTestCA(t)
			plain := startInfoBackend(t, "web", listenTCP(t, "127.0.0.1:0"), false)
			tlsb := startInfoBackend(t, "tlspass", tls.NewListener(listenTCP(t, "127.0.0.1:0"), ca.serverConfig()), false)
			lh, lt := harness.FreeAddr(t), harness.FreeAddr(t)
			harness.StartCaddy(t, fmt.Sprintf(`{
		admin {ADMIN}
		costlb {
			site east
		}
		layer4 {
			%s {
				@web http
				route @web {
					costlb {
						data_path %s
						backend east %s
					}
				}
			}
			%s {
				@tls tls sni backend.test
				route @tls {
					costlb {
						data_path %s
						backend east %s
					}
				}
			}
		}
		}`, lh, dp, plain.Addr(), lt, dp, tlsb.Addr()), "caddyfile")

			req := "GET /x HTTP/1.1\r\nHost: example.test\r\n\r\n"
			c, err := net.DialTimeout("tcp", lh, relTimeout)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := echoRest(t, c, req); !strings.HasPrefix(got, "web ") || !strings.HasSuffix(got, "\n"+req) {
				t.Fatalf("through the http matcher the backend sent back %q; want its greeting, then the request", got)
			}

			tc, err := tls.DialWithDialer(&net.Dialer{Timeout: relTimeout}, "tcp", lt, &tls.Config{ServerName: "backend.test", RootCAs: ca.pool})
			if err != nil {
				t.Fatalf("TLS through the tls matcher (the ClientHello it read must reach the backend): %v", err)
			}
			defer tc.Close()
			_ = tc.SetDeadline(time.Now().Add(relTimeout))
			line, err := bufio.NewReader(tc).ReadString('\n')
			if err != nil || !strings.HasPrefix(line, "tlspass ") || field(line, "sni") != "backend.test" {
				t.Fatalf("greeting over passed-through TLS: %q, %v", line, err)
			}
		})
	}
}
