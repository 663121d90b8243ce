// Package transport serves WAMP to network clients: WebSocket (package
// transport/websocket) and RawSocket (package transport/rawsocket) on one
// listening port, over TCP, TLS or a Unix socket, in goroutine mode: each
// connection has a reader goroutine and a writer goroutine.
//
// A [Server] accepts connections and tells the two protocols apart by the
// first byte a client sends: 0x7F opens a RawSocket handshake, anything else
// is read as an HTTP WebSocket upgrade request. After the transport
// handshake the connection is attached to the router (router.Router.Attach)
// as a router.Peer; the reader decodes every message and hands it to the
// session in order, and the router's replies go out through the writer.
//
// # Outbound queue
//
// Peer.Send never blocks: it encodes the message, framed, straight onto the
// connection's pending bytes. The writer swaps the pending bytes out and
// writes all of them in one call, so a busy connection sends many messages
// per system call and an idle one sends a message as soon as it is queued.
// Send refuses a message with router.ErrQueueFull when the bytes not yet
// written (pending plus the write in progress) would exceed
// Server.OutboundQueue, but an empty queue always takes one message, however
// large, so that a message up to the size limit can always be sent. A
// message larger than the client accepts (its RawSocket handshake, or
// Server.MaxMessageSize) is router.ErrTooLarge. What to do about a full
// queue is the router's slow-consumer policy.
//
// # Closing
//
// Closing flushes what is queued (within a grace period of 2s), sends the
// WebSocket close frame, half-closes the connection and waits (within the
// same grace) for the client to close its side, so that the last messages,
// an ABORT say, are not lost to a TCP reset. WebSocket close codes:
//
//	1000 normal       the session ended with GOODBYE or an ABORT that is
//	                  not a protocol violation; or the client's own code,
//	                  echoed, when it closed first
//	1001 going away   the router shut down (GOODBYE or ABORT with
//	                  wamp.close.system_shutdown), Server.Shutdown ran out
//	                  of time, idle or ping timeout, or the client went
//	                  away without a close frame
//	1002 protocol     WebSocket framing errors: an unmasked client frame,
//	                  reserved bits or opcodes, bad fragmentation, bad
//	                  control frames
//	1003 unsupported  a binary message on a JSON session or a text message
//	                  on a MessagePack or CBOR session
//	1007 invalid data a text message (or close reason) that is not UTF-8
//	1008 policy       the session was aborted for a protocol violation (a
//	                  message that does not decode, no HELLO in time), or
//	                  dropped as a slow consumer (its queue full when the
//	                  router closed it, or no room to answer a ping)
//	1009 too big      a message over Server.MaxMessageSize
//	1011 internal     the router panicked while handling a message
//
// Every transport-level violation also sends the session an ABORT
// wamp.error.protocol_violation (through router.Session.Fail) before the
// close, so that the client learns why in WAMP terms as well.
//
// # Cost of a connection
//
// Two goroutines (reader and writer), a 4 KiB read buffer (grown while
// larger messages arrive, dropped back to 4 KiB when the connection is
// idle), one runtime timer when keep-alive pings or the idle timeout are on,
// and no write buffer while nothing is queued: write buffers come from a
// pool and go back to it once written.
//
// The frame parsing and encoding, and the handshakes' byte-level parts, live
// in the subpackages as functions over byte slices, so that an event-driven
// engine can reuse them next to this goroutine mode.
package transport
