package netlab

import (
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// openTUN makes a TUN device (IPv4/IPv6 packets with no extra header) in
// the calling thread's namespace and returns its file, non-blocking so
// that Close ends a pending Read, and the name the kernel gave it. The
// device lives as long as the file is open, wherever it is moved.
func openTUN() (*os.File, string, error) {
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, "", fmt.Errorf("opening /dev/net/tun: %w", err)
	}
	ifr, err := unix.NewIfreq("costlb%d")
	if err != nil {
		unix.Close(fd)
		return nil, "", err
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, "", fmt.Errorf("TUNSETIFF: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, "", err
	}
	return os.NewFile(uintptr(fd), "/dev/net/tun"), ifr.Name(), nil
}
