package transport

import (
	"fmt"

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

// deflateMessage compresses the WebSocket message m, encoded in format f
// into out since websocket.BeginFrame returned start, for a connection
// that negotiated permessage-deflate. A shared message (an EVENT fanned
// out) is compressed once per serializer for all its receivers; any other
// in place. It returns out and whether the frame is to be ended
// compressed (websocket.EndFrameCompressed). Called after admit: the
// queue's bounds are judged on the uncompressed size, which is never less.
func deflateMessage(out []byte, start int, m wamp.Message, f wamp.Format) ([]byte, bool) {
	if sh, ok := m.(*wamp.Shared); ok {
		if p := sh.Encoded(f); p != nil {
			z := sharedDeflated(sh, f, p)
			if z == nil {
				return out, false
			}
			return append(out[:start+websocket.MaxServerHeaderSize], z...), true
		}
	}
	return websocket.DeflatePayload(out, start)
}

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
