//go:build !unix

package transport

import (
	"errors"
	"syscall"
)

func peekProxyHeader(syscall.Conn, []byte) (int, error) {
	return 0, errors.New("the PROXY protocol is served on Unix systems only")
}
