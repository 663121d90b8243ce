//go:build linux

package epoll

import "golang.org/x/sys/unix"

// Detach takes the socket away from the engine without closing it, for a
// handler that hands the connection to other code (package transport gives
// a plain HTTP request to net/http this way): the loop stops watching the
// socket, cancels its timer, drops its unwritten output and forgets it,
// and the caller owns the descriptor it returns. Closed is not called. It
// is for the handler's calls on the loop, in Data; the bytes Data was
// given are the caller's to keep (copy them: they are only valid during
// the call), and nothing more is read. It reports false, and the
// descriptor stays the engine's, when the connection is already closing.
func (c *Conn) Detach() (fd int, ok bool) {
	l := c.loop
	c.mu.Lock()
	if c.state != stateOpen || !c.registered || c.writing {
		c.mu.Unlock()
		return -1, false
	}
	c.state = stateClosed
	c.releaseLocked()
	c.mu.Unlock()
	c.eof = true // the loop's read stops here
	fd = int(c.fd)
	// Deleted explicitly: a descriptor closed by the new owner would
	// leave the registration behind while a duplicate of it lives.
	unix.EpollCtl(l.epfd, unix.EPOLL_CTL_DEL, fd, nil)
	l.wheel.remove(c)
	if fd < len(l.conns) && l.conns[fd] == c {
		l.conns[fd] = nil
		l.n--
	}
	return fd, true
}
