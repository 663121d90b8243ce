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

// Read implements io.Reader: the unread bytes first, then src directly. It
// lets a handshake parser that reads through its own buffer start with the
// bytes read to tell the protocols apart.
func (rb *readBuffer) reader(src io.Reader) io.Reader { return &prefixReader{rb, src} }

type prefixReader struct {
	rb  *readBuffer
	src io.Reader
}

func (p *prefixReader) Read(b []byte) (int, error) {
	if p.rb.r < p.rb.w {
		n := copy(b, p.rb.unread())
		p.rb.consume(n)
		return n, nil
	}
	return p.src.Read(b)
}
