package main

import (
	"syscall"

	"golang.org/x/sys/unix"
)

// smallReceiveBuffer makes the stalled subscriber's kernel buffer small, so
// that the router, not the kernel, holds what it does not read.
func smallReceiveBuffer(network, address string, c syscall.RawConn) error {
	var serr error
	err := c.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4096)
	})
	if err != nil {
		return err
	}
	return serr
}
