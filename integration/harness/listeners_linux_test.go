package harness

import (
	"context"
	"net"
	"os"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// TestDuplicateListener binds two SO_REUSEPORT listeners on one address, as
// a Caddy reload does: duplicateListener finds the address while both are
// open and nothing once one is closed.
func TestDuplicateListener(t *testing.T) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		})
		if err != nil {
			return err
		}
		return serr
	}}
	ln1, err := lc.Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln1.Close()
	if addr, err := duplicateListener(os.Getpid()); err != nil || addr != "" {
		t.Fatalf("one listener: duplicateListener = %q, %v; want none", addr, err)
	}
	ln2, err := lc.Listen(context.Background(), "tcp", ln1.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	addr, err := duplicateListener(os.Getpid())
	if err != nil || addr != ln1.Addr().String() {
		t.Fatalf("two listeners on %s: duplicateListener = %q, %v; want the address", ln1.Addr(), addr, err)
	}
	ln2.Close()
	if addr, err := duplicateListener(os.Getpid()); err != nil || addr != "" {
		t.Fatalf("second listener closed: duplicateListener = %q, %v; want none", addr, err)
	}
}
