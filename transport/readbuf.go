package transport

import "io"

// Read buffer sizes: a connection starts with readBufferSize bytes, grows
// while a larger frame arrives, and drops back when it is idle with more
// than maxIdleReadBuffer.
const (
	readBufferSize    = 4 << 10
	maxIdleReadBuffer = 64 << 10
)

// readBuffer holds bytes read from a connection and not yet parsed:
// b[r:w]. Frames are parsed in place, so a frame's payload aliases the
// buffer until it is consumed.
type readBuffer struct {
	b    []byte
	r, w int
}

func (rb *readBuffer) unread() []byte { return rb.b[rb.r:rb.w] }

// consume drops the first n unread bytes.
func (rb *readBuffer) consume(n int) {
	rb.r += n
	if rb.r == rb.w {
		rb.r, rb.w = 0, 0
		if len(rb.b) > maxIdleReadBuffer {
			rb.b = make([]byte, readBufferSize)
		}
	}
}

// fill makes room for the unread bytes to reach need bytes and reads once
// from src. The buffer grows only when it is full, doubling each time and
// never beyond need, so that it grows with the bytes that actually arrive
// and not with a length a peer merely claims.
func (rb *readBuffer) fill(src io.Reader, need int) error {
	if rb.b == nil {
		rb.b = make([]byte, readBufferSize)
	}
	if rb.r > 0 && (rb.w == len(rb.b) || rb.r+need > len(rb.b)) {
		rb.w = copy(rb.b, rb.b[rb.r:rb.w])
		rb.r = 0
	}
	if rb.w == len(rb.b) {
		nb := make([]byte, max(min(2*len(rb.b), need), len(rb.b)+1))
		rb.w = copy(nb, rb.b[rb.r:rb.w])
		rb.r = 0
		rb.b = nb
	}
	n, err := src.Read(rb.b[rb.w:])
	rb.w += n
	if n > 0 {
		return nil
	}
	return err
}

// headReader reads an HTTP request's head out of rb (filled from src) and
// nothing past it: the WebSocket upgrader reads through a buffer of its own
// and drops what it read beyond the head, where a client that does not
// wait for the response (RFC 6455 says it must) has put its first frames.
// Those stay in rb, for the connection's reads, as the epoll engine keeps
// them.
type headReader struct {
	rb           *readBuffer
	src          io.Reader
	prev1, prev2 byte // the last two bytes given
	done         bool // the blank line that ends the head was given
}

func (h *headReader) Read(p []byte) (int, error) {
	if h.done {
		return 0, io.EOF
	}
	if len(h.rb.unread()) == 0 {
		if err := h.rb.fill(h.src, 1); err != nil {
			return 0, err
		}
	}
	u := h.rb.unread()
	n := min(len(p), len(u))
	for i, c := range u[:n] {
		if c == '\n' && (h.prev1 == '\n' || h.prev1 == '\r' && h.prev2 == '\n') {
			n, h.done = i+1, true
			break
		}
		h.prev2, h.prev1 = h.prev1, c
	}
	copy(p, u[:n])
	h.rb.consume(n)
	return n, nil
}
