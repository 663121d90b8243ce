package transport

import "golang.org/x/sys/unix"

func (c *econn) setSendBuffer(n int) {
	c.Control(func(fd int) { unix.SetsockoptInt(fd, unix.SOL_SOCKET, unix.SO_SNDBUF, n) })
}

func (c *econn) queued() int {
	c.Lock()
	defer c.Unlock()
	return c.Queued()
}

// engineConnLocked finds the epoll engine's connection from remote.
func (ts *testServer) engineConnLocked(remote string) serverConn {
	if ts.eng == nil {
		return nil
	}
	for c := range ts.eng.conns {
		if c.remote == remote && c.attached {
			return c
		}
	}
	return nil
}
