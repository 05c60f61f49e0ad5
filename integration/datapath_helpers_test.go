package integration

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/pires/go-proxyproto"

	"github.com/costlb/costlb/integration/harness"
)

// Backends for the data path tests, run in the test process: each tells
// the client what it saw of the connection in its greeting line, then
// echoes until the client half-closes, and half-closes in turn.

// infoBackend is a test server on a TCP, TLS or unix listener.
type infoBackend struct {
	name  string
	ln    net.Listener
	proxy bool // read a PROXY protocol header first

	accepted atomic.Int64
	mu       sync.Mutex
	seen     []connInfo
	wg       sync.WaitGroup
}

// connInfo is what a backend saw of one connection.
type connInfo struct {
	remote string // the peer address of the socket
	proxy  string // the source address in the PROXY header, "" if none
	sni    string // the TLS server name, "" if not TLS
	err    error  // a PROXY header or TLS handshake that failed
}

// startInfoBackend serves ln until the test ends.
func startInfoBackend(t testing.TB, name string, ln net.Listener, proxy bool) *infoBackend {
	t.Helper()
	b := &infoBackend{name: name, ln: ln, proxy: proxy}
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			b.accepted.Add(1)
			b.wg.Add(1)
			go b.handle(c)
		}
	}()
	t.Cleanup(func() { _ = ln.Close(); b.wg.Wait() })
	return b
}

// Addr is the address to dial, in Caddy's syntax (unix/<path> for a socket).
func (b *infoBackend) Addr() string {
	if a, ok := b.ln.Addr().(*net.UnixAddr); ok {
		return "unix/" + a.Name
	}
	return b.ln.Addr().String()
}

func (b *infoBackend) handle(c net.Conn) {
	defer b.wg.Done()
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(relTimeout))
	var ci connInfo
	ci.remote = c.RemoteAddr().String()
	r := bufio.NewReader(c)
	if tc, ok := c.(*tls.Conn); ok {
		ci.err = tc.Handshake()
		ci.sni = tc.ConnectionState().ServerName
	}
	if b.proxy && ci.err == nil {
		h, err := proxyproto.Read(r)
		if err != nil {
			ci.err = err
		} else {
			ci.proxy = h.SourceAddr.String()
		}
	}
	b.mu.Lock()
	b.seen = append(b.seen, ci)
	b.mu.Unlock()
	if ci.err != nil {
		return
	}
	_ = c.SetDeadline(time.Time{})
	fmt.Fprintf(c, "%s remote=%s proxy=%s sni=%s\n", b.name, ci.remote, ci.proxy, ci.sni)
	_, _ = io.Copy(c, r)
	closeWrite(c)
}

// last returns what the backend saw of its latest connection, waiting
// for it to have seen one: the client can see its end first.
func (b *infoBackend) last(t testing.TB) connInfo {
	t.Helper()
	seen := func() int {
		b.mu.Lock()
		defer b.mu.Unlock()
		return len(b.seen)
	}
	harness.WaitFor(t, relTimeout, func() bool { return seen() > 0 }, "backend "+b.name+" to see a connection")
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.seen[len(b.seen)-1]
}

// closeWrite half-closes c (a TLS connection sends close_notify and its
// socket's FIN).
func closeWrite(c net.Conn) {
	if tc, ok := c.(*tls.Conn); ok {
		_ = tc.CloseWrite()
		c = tc.NetConn()
	}
	if cw, ok := c.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
}

func listenTCP(t testing.TB, addr string) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

func listenUnix(t testing.TB) net.Listener {
	t.Helper()
	// a short path: unix socket paths are limited to about 100 bytes
	dir, err := os.MkdirTemp("", "cl")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	ln, err := net.Listen("unix", filepath.Join(dir, "b.sock"))
	if err != nil {
		t.Fatal(err)
	}
	return ln
}

// testCA is a certificate authority made for one test, and a server
// certificate it signed for backend.test and 127.0.0.1.
type testCA struct {
	caFile string // the CA certificate, PEM
	server tls.Certificate
	pool   *x509.CertPool
}

func newTestCA(t testing.TB) *testCA {
	t.Helper()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "costlb test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	caCert, _ := x509.ParseCertificate(caDER)
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "backend.test"},
		DNSNames: []string{"backend.test"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{caFile: filepath.Join(t.TempDir(), "ca.pem"), pool: x509.NewCertPool()}
	ca.pool.AddCert(caCert)
	if err := os.WriteFile(ca.caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	ca.server = tls.Certificate{Certificate: [][]byte{leafDER}, PrivateKey: key}
	return ca
}

// serverConfig is the TLS config of a backend serving the CA's certificate.
func (ca *testCA) serverConfig() *tls.Config {
	return &tls.Config{Certificates: []tls.Certificate{ca.server}}
}

// greetLine connects to addr, sends nothing, and reads the greeting line;
// it returns the line and the open connection.
func greetLine(t testing.TB, addr string) (string, net.Conn) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, relTimeout)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(relTimeout))
	line, err := bufio.NewReader(io.LimitReader(c, 4096)).ReadString('\n')
	_ = c.SetReadDeadline(time.Time{})
	if err != nil {
		_ = c.Close()
		t.Fatalf("greeting from %s: %q, %v", addr, line, err)
	}
	return strings.TrimSpace(line), c
}

// field returns the value of key=value in a greeting line.
func field(line, key string) string {
	for _, f := range strings.Fields(line) {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

// blackhole returns the address of a listener whose accept queue is full:
// the kernel drops new SYNs, so a dial to it neither succeeds nor fails
// until the client's own timeout. It skips the test if the kernel answers.
func blackhole(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil { // backlog 0: one queued connection fills it
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	for i := 0; i < 4; i++ {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				return addr // the queue is full: dials hang
			}
			t.Fatalf("dial to the full listener: %v", err)
		}
		t.Cleanup(func() { _ = c.Close() })
	}
	t.Skip("the kernel completes connections to a listener with a full accept queue here; cannot make a blackhole")
	return ""
}

// silentReset is a backend that accepts every connection and resets it
// after delay, without a byte: a broken server behind a live socket. (With
// no delay the reset can beat the end of the proxy's own connect, which
// then fails as a dial.)
func silentReset(t testing.TB, delay time.Duration) (addr string, accepted *atomic.Int64) {
	t.Helper()
	ln := listenTCP(t, "127.0.0.1:0")
	accepted = new(atomic.Int64)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			_ = c.(*net.TCPConn).SetLinger(0)
			if delay > 0 {
				time.AfterFunc(delay, func() { _ = c.Close() })
			} else {
				_ = c.Close()
			}
		}
	}()
	t.Cleanup(func() { _ = ln.Close() })
	return ln.Addr().String(), accepted
}

// procFDs returns how many file descriptors the Caddy process has open.
func procFDs(t testing.TB, c *harness.Caddy) int {
	t.Helper()
	ents, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", c.PID()))
	if err != nil {
		t.Fatalf("open fds of caddy: %v", err)
	}
	return len(ents)
}
