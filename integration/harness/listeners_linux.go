package harness

import (
	"bufio"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// duplicateListener returns a local address on which process pid holds two
// or more listening TCP sockets, or "" if there is none.
//
// Caddy on Linux opens each listener with SO_REUSEPORT: a reload binds the
// new config's socket beside the old one, and the old config's server closes
// its socket a moment after the admin API has answered. A connection the
// kernel queues on the old socket in that moment is reset when it closes:
// Caddy's reload, not the test's subject. Two sockets on one address mean
// the reload is not finished.
func duplicateListener(pid int) (string, error) {
	inodes, err := socketInodes(pid)
	if err != nil {
		return "", err
	}
	seen := map[string]bool{}
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			return "", err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
			fields := strings.Fields(sc.Text())
			if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] { // 0A: LISTEN
				continue
			}
			addr := procAddr(fields[1])
			if seen[addr] {
				f.Close()
				return addr, nil
			}
			seen[addr] = true
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return "", err
		}
	}
	return "", nil
}

// socketInodes returns the inodes of the sockets process pid has open.
func socketInodes(pid int) (map[string]bool, error) {
	dir := fmt.Sprintf("/proc/%d/fd", pid)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	inodes := map[string]bool{}
	for _, e := range entries {
		target, err := os.Readlink(filepath.Join(dir, e.Name()))
		if err != nil {
			continue // closed since ReadDir
		}
		if inode, ok := strings.CutPrefix(target, "socket:["); ok {
			inodes[strings.TrimSuffix(inode, "]")] = true
		}
	}
	return inodes, nil
}

// procAddr turns a /proc/net/tcp{,6} local address, hex words in host
// (little-endian) order and a hex port, into "ip:port".
func procAddr(s string) string {
	ipHex, portHex, _ := strings.Cut(s, ":")
	raw, err := hex.DecodeString(ipHex)
	port, perr := strconv.ParseUint(portHex, 16, 16)
	if err != nil || perr != nil || len(raw)%4 != 0 {
		return s
	}
	ip := make(net.IP, len(raw))
	for i := 0; i < len(raw); i += 4 {
		binary.BigEndian.PutUint32(ip[i:], binary.LittleEndian.Uint32(raw[i:]))
	}
	return net.JoinHostPort(ip.String(), strconv.FormatUint(port, 10))
}
