//go:build unix

package transport

import (
	"io"
	"syscall"

	"golang.org/x/sys/unix"
)

// peekProxyHeader waits until the socket holds a whole PROXY header at
// its start, or bytes that cannot begin one, looking with MSG_PEEK (the
// bytes stay in the socket), and returns the header's length. buf
// (proxyHeaderMax long) receives what was seen. The socket's read
// deadline bounds the wait.
func peekProxyHeader(sc syscall.Conn, buf []byte) (int, error) {
	rc, err := sc.SyscallConn()
	if err != nil {
		return 0, err
	}
	var n, size int
	var rerr, perr error
	// The function returns false to wait for more bytes: Go's poller
	// reports a socket readable again only when more arrive.
	err = rc.Read(func(fd uintptr) bool {
		for {
			n, _, rerr = unix.Recvfrom(int(fd), buf, unix.MSG_PEEK)
			if rerr != unix.EINTR {
				break
			}
		}
		switch {
		case rerr == unix.EAGAIN:
			return false
		case rerr != nil || n == 0:
			return true
		}
		size, perr = proxyHeaderSize(buf[:n])
		return perr != nil || size > 0
	})
	switch {
	case err != nil:
		return 0, err
	case rerr != nil:
		return 0, rerr
	case n == 0:
		return 0, io.EOF
	}
	return size, perr
}
