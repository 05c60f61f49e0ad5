package main

import (
	"net"

	"github.com/lesismal/nbio"
	"github.com/lesismal/nbio/logging"
)

// The nbio-proxy target (see loopproxy.go). What nbio v1.6.8 cannot do
// that a proxy needs, seen in its code: its Conn has no half-close (a
// FIN read closes the connection, so here the peer is closed), and its
// Write keeps whatever the socket does not take in an unbounded buffer
// (or, with MaxWriteBufferSize, closes the connection), with no way to
// stop reading the source meanwhile: a slow reader makes the proxy buffer
// a fast writer's whole stream. Fine for this measurement (the clients
// read every answer), not for costlb.

// serveNbioProxyChild serves nbio-proxy: an nbio engine (one poller per CPU)
// whose connections forward what they read to their peer.
func serveNbioProxyChild(backend string) (string, error) {
	e, err := startNbio()
	if err != nil {
		return "", err
	}
	return serveAccepting(func(c *net.TCPConn) { nbioProxy(e, c, backend) })
}

// startNbio starts an nbio engine whose connections forward what they
// read to their peer (the Conn in their session).
func startNbio() (*nbio.Engine, error) {
	logging.SetLevel(logging.LevelNone) // it logs to stdout, the parent's pipe
	e := nbio.NewEngine(nbio.Config{Name: "nbio-proxy", EpollMod: nbio.EPOLLET})
	e.OnData(func(c *nbio.Conn, data []byte) {
		if peer, ok := c.Session().(*nbio.Conn); ok {
			_, _ = peer.Write(data)
		}
	})
	e.OnClose(func(c *nbio.Conn, err error) {
		if peer, ok := c.Session().(*nbio.Conn); ok {
			_ = peer.Close()
		}
	})
	if err := e.Start(); err != nil {
		return nil, err
	}
	return e, nil
}

// nbioProxy dials backend and adds both connections to the engine, each
// with the other as its session.
func nbioProxy(e *nbio.Engine, client *net.TCPConn, backend string) {
	c, err := proxyDialer.Dial("tcp", backend)
	if err != nil {
		_ = client.Close()
		return
	}
	nc, err := nbio.NBConn(client)
	if err != nil {
		_ = client.Close()
		_ = c.Close()
		return
	}
	nb, err := nbio.NBConn(c)
	if err != nil {
		_ = nc.Close()
		_ = c.Close()
		return
	}
	nc.SetSession(nb)
	nb.SetSession(nc)
	if _, err := e.AddConn(nb); err != nil {
		_ = nc.Close()
		return
	}
	if _, err := e.AddConn(nc); err != nil {
		_ = nb.Close()
	}
}
