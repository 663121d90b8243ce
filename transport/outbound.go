package transport

import (
	"fmt"
	"sync"

	"github.com/junction-wamp/junction/router"
	"github.com/junction-wamp/junction/transport/websocket"
	"github.com/junction-wamp/junction/wamp"
)

// What may be queued for a connection: the rules both engines' Send and
// control frames follow (see "Outbound queue" in the package
// documentation).

// admit decides whether a message of type t, with a payload of n bytes
// and size bytes framed, may be queued behind the queued bytes not yet
// written: not when its payload is over maxOut (router.ErrTooLarge), nor
// when it would take the queue past limit (router.ErrQueueFull), except
// that an empty queue takes any message, and an ABORT is never refused for
// a full queue. An ABORT is a session's last message (the router closes
// the connection after it, and nothing is queued after that), small, and
// the only way to tell a RawSocket client why it is dropped.
func admit(t wamp.MessageType, n, size, queued, maxOut, limit int) error {
	switch {
	case n > maxOut:
		return router.ErrTooLarge
	case queued > 0 && queued+size > limit && t != wamp.TypeAbort:
		return router.ErrQueueFull
	}
	return nil
}

// controlSlack is how far past Server.OutboundQueue control frames (pongs,
// and our own pings) may take a connection's queue: a session whose queue
// the slow-consumer policy keeps full of EVENTs can still answer a ping.
// Beyond it, the client is not reading: a pong that does not fit drops it
// as a slow consumer, and a ping that does not fit is not sent (its
// timeout still runs).
const controlSlack = 4 << 10

// controlFits reports whether a control frame of size bytes may be queued
// behind queued bytes.
func controlFits(queued, size, limit int) bool {
	return queued == 0 || queued+size <= limit+controlSlack
}

// pongFlood is why a client that pings and does not read its pongs is
// dropped: the ABORT's message and the WebSocket close reason.
func pongFlood(limit int) string {
	return fmt.Sprintf("slow consumer: outbound queue full (%d bytes) answering pings", limit)
}

// Sending to a connection that negotiated permessage-deflate. Compressing
// a message costs far more than framing it (some 10 µs for 2 KiB of JSON,
// milliseconds for a large RESULT), so Send encodes and compresses before
// it takes the connection's lock (prepare), then frames the result under
// it (wire.appendDeflated): the connection's reader answering a ping, its
// writer, and the other event loops sending to it do not wait for the
// compression. Order is kept: Send queues the message before it returns,
// so Sends that follow one another, which is how the router orders a
// session's messages, queue in their order, and only Sends that overlap,
// which nothing orders, may queue either way, as they always could.

// deflated is a message encoded, and compressed when that makes it
// shorter, for one connection, ready to be framed.
type deflated struct {
	buf  *scratch // the encoding, then its compressed form (pooled; nil for a shared message's cached encoding)
	p    []byte   // the payload to frame
	n    int      // the encoded length, which the queue's bounds judge
	rsv1 bool     // p is compressed
	err  error    // encoding failed
}

// prepare encodes m in the connection's format and compresses it, when it
// is at least websocket.MinDeflateSize bytes and not over the connection's
// message limit (it will be refused). A shared message (an EVENT fanned
// out) is encoded and compressed once per serializer for all its
// receivers (sharedDeflated).
func (d *deflated) prepare(w *wire, m wamp.Message) {
	sh, shared := m.(*wamp.Shared)
	if shared {
		d.p = sh.Encoded(w.format)
	}
	if d.p == nil {
		// Encoding a shared message stores its encoding too.
		d.buf = scratchPool.Get().(*scratch)
		d.buf.b, d.err = w.codec().Encode(d.buf.b[:0], m)
		if d.err != nil {
			return
		}
		d.p = d.buf.b
	}
	d.n = len(d.p)
	switch {
	case d.n < websocket.MinDeflateSize || d.n > int(w.maxOut):
	case shared:
		if z := sharedDeflated(sh, w.format, d.p); z != nil {
			d.p, d.rsv1 = z, true
		}
	default:
		// The compressed form goes after the encoding, in the same
		// buffer.
		all := websocket.AppendDeflate(d.p, d.p)
		if z := all[d.n:]; len(z) < d.n {
			d.p, d.rsv1 = z, true
		}
		d.buf.b = all
	}
}

// release gives the buffer back (a large one is let go).
func (d *deflated) release() {
	if d.buf != nil && cap(d.buf.b) <= maxPooledScratch {
		d.buf.b = d.buf.b[:0]
		scratchPool.Put(d.buf)
	}
	*d = deflated{}
}

// scratch is a buffer prepare encodes and compresses into.
type scratch struct{ b []byte }

// maxPooledScratch keeps the buffers of large messages out of the pool.
const maxPooledScratch = 64 << 10

var scratchPool = sync.Pool{New: func() any { return new(scratch) }}

// sharedDeflated returns the compressed form of p, the shared message sh
// encoded in format f, compressing it for the first receiver that asks;
// nil when it is sent uncompressed (too short, or it does not shrink).
// Two receivers asking at once may both compress it; either result is
// kept.
func sharedDeflated(sh *wamp.Shared, f wamp.Format, p []byte) []byte {
	z, known := sh.Compressed(f)
	if known {
		return z
	}
	z = websocket.DeflateBytes(p)
	sh.SetCompressed(f, z)
	return z
}
