// Package transport serves WAMP to network clients: WebSocket (package
// transport/websocket) and RawSocket (package transport/rawsocket) on one
// listening port, over TCP, TLS or a Unix socket.
//
// A [Server] accepts connections and tells the two protocols apart by the
// first byte a client sends: 0x7F opens a RawSocket handshake, anything else
// is read as an HTTP WebSocket upgrade request. After the transport
// handshake the connection is attached to the router (router.Router.Attach)
// as a router.Peer; every message it sends is decoded and handed to the
// session in order, and the router's replies go out through the
// connection's outbound queue. The router does not know how a connection is
// served.
//
// # Plain HTTP
//
// With Server.Handler set, the port serves plain HTTP too (metrics, health
// checks, pages): a request for another path than the WebSocket path goes
// to the Handler as soon as its request line has arrived, and one for the
// WebSocket path once its headers have, unless it asks for a WebSocket
// upgrade. The connection is handed, with what was read of it, to a
// net/http Server, which serves it and any further requests on it in
// goroutine mode (the epoll engine first takes it off its event loop).
// Server.HTTP bounds those connections: header, body, write and idle
// timeouts, header and body sizes, and how many are served at once (503
// beyond). Without a Handler such requests get the upgrader's answer, 404
// for another path.
//
// # Counters
//
// Server.Stats reports the connections by engine and transport (open now,
// opened in all), the handshakes refused by reason (RefusalReasons; each
// refusal is also logged at info level, rate-limited per reason), and the
// bytes read and written. The epoll engine counts bytes per event loop;
// the router counts messages (router.Router.Stats) in shards named by
// router.TransportInfo.Loop, the loop that reads the connection.
//
// # Engines
//
// Server.Engine chooses how connections are served:
//
//   - The epoll engine (Linux; plain TCP and Unix sockets): a few event
//     loops, GOMAXPROCS of them, each with its own epoll instance, serve
//     every connection (package transport/internal/epoll explains how).
//     An idle connection has no goroutine and no buffer: about 320 bytes of
//     connection state next to the router's session, and the kernel's
//     socket. A loop reads every complete frame a socket has into one
//     shared 64 KiB buffer and keeps only an incomplete rest, in a pooled
//     buffer; it writes each connection's queued frames in one write(2)
//     once it has handled the events at hand. Timers (handshake and hello
//     deadlines, keep-alive pings, idle timeout, the close grace) are a
//     timer wheel per loop, not one runtime timer per connection.
//     With TLS, the handshake runs first on a goroutine of its own
//     (crypto/tls; at most Server.MaxTLSHandshakes at once, each bounded
//     by HandshakeTimeout), never on a loop; then the loop carries the
//     records with transport/internal/tlsrec: it opens them in place in
//     its buffer and seals output where it is framed, and a connection
//     quiet for 2s keeps only its keys (some 400 bytes more than a plain
//     one), not the ciphers' tables, whichever direction made them last
//     (an event sent to an idle subscriber remakes the write cipher; the
//     writer asks the loop to plan its drop). TLS 1.2 and 1.3 with AEAD
//     suites.
//   - Goroutine mode (everywhere): a reader and a writer goroutine
//     per connection, a 4 KiB read buffer (grown while larger messages
//     arrive, dropped back to 4 KiB when the connection is idle), one
//     runtime timer when keep-alive pings or the idle timeout are on, and
//     no write buffer while nothing is queued.
//
// EngineAuto, the default, uses the epoll engine on Linux for TCP and Unix
// listeners, TLS included (unless Server.TLSConfig allows nothing the
// record layer carries: TLS 1.1 and older only, or only non-AEAD
// suites), and goroutine mode elsewhere. Both
// behave the same to a client, timeouts, limits and close codes included;
// every behaviour test runs on both, over plain connections and over TLS.
//
// Measured on a 2-core machine shared with the load generator (junction
// bench): an idle session, joined and subscribed, grows the router's RSS by
// 1.9 to 2.5 KB with the epoll engine (Go heap after a collection: about
// 850 bytes, the router's session included; see TestIdleConnections) and
// by about 20.5 KB in goroutine mode (two goroutine stacks and the read buffer). The epoll engine also
// needs fewer system calls under load: see # Coalescing.
//
// # Coalescing
//
// Frames bound for one connection are gathered and written together. The
// epoll engine writes a connection once the events at hand are handled, so
// that a burst (a batch of requests read at once, the messages a fan-out
// sends) goes out in one system call per connection; a connection whose
// input was just handled is answered first. When a loop writes to
// listeners (connections that have sent nothing for 20ms: subscribers,
// say) more than 25,000 times a second, a wide and fast fan-out, it holds
// each listener's writes back, up to 20ms apart, so that each write carries
// what came meanwhile (or at once when 64 KiB are waiting); it stops as
// soon as the load is gone. The first message after a quiet spell, a
// narrow or slow fan-out, and everything sent to a client that talks (a
// caller, a callee, a publisher) go out at once. So an idle system
// delivers each message at once, and a busy one writes more per system
// call. A message for a connection whose event loop sleeps, while another
// loop is awake (the router forwarding a CALL or a RESULT from one loop's
// connection to another's), is written by the awake loop at the end of its
// round instead of waking the other. In goroutine mode the writer
// goroutine takes whatever was queued while it was busy.
//
// # Outbound queue
//
// Peer.Send never blocks: it encodes the message, framed, straight onto the
// connection's pending bytes (a pooled buffer), whichever engine serves it;
// a message the router shares between sessions (a fanned-out EVENT) is
// encoded once per serializer, and each further connection copies the
// encoding behind its frame header. To a connection with
// permessage-deflate, Send encodes and compresses the message before it
// takes the connection's lock (a shared one once per serializer), and
// only frames the result under it, so that a large message's compression
// (milliseconds) holds up no other sender, reader or writer of that
// connection; a Send still queues its message before it returns, so the
// messages the router sends one after the other keep their order.
// The writer (the writer goroutine, or the connection's event loop) takes
// the pending bytes and writes all of them in one call; what the kernel
// does not take stays queued, and an epoll connection is then watched for
// writability. A client that stops reading therefore costs at most its
// queue and slows no one else. Send refuses a message with router.ErrQueueFull when the bytes not yet
// written (pending plus the write in progress) would exceed
// Server.OutboundQueue, but an empty queue always takes one message, however
// large, so that a message up to the size limit can always be sent. A
// message larger than the client accepts (its RawSocket handshake, or
// Server.MaxMessageSize) is router.ErrTooLarge. No frame is: a RawSocket
// PING longer than the client's announced maximum fails the connection
// (ABORT wamp.error.protocol_violation) as soon as its header arrives,
// since the PONG must echo it and could not be sent. What to do about a full
// queue is the router's slow-consumer policy. An ABORT is never refused
// for a full queue: it is a session's last message and says why the
// session ends.
//
// Control frames (pongs, keep-alive pings) may take the queue up to 4 KiB
// past the limit, so that a session the drop policy keeps at its limit can
// still answer a ping. A client that sends pings and does not read the
// pongs soon goes past that: it is dropped as a slow consumer (counted in
// router.Stats.SlowConsumers), with an ABORT and, on WebSocket, close code
// 1008, both saying why.
//
// # What a client can make the router hold
//
// Input is bounded before it is buffered; both engines read through the
// same code (input, in inbound.go), so the limits are the same on both:
//
//   - At most Server.MaxPendingConnections connections whose session is
//     not established are held at once: counted from their accept,
//     through the TLS and transport handshakes, to WELCOME or their end
//     (joinState), whichever engine serves them. One accepted past that
//     is closed at once, before a byte of it is read: a flood of sockets
//     costs an accept and a close each, and the sessions already
//     established are not affected (RefusalReasons "pending_full"). The
//     handshake and hello timeouts bound how long each is held.
//   - Until its session is established, a client's messages are limited to
//     Server.MaxPreWelcomeMessageSize (64 KiB by default): room for any
//     HELLO and AUTHENTICATE. A frame header that announces more (or
//     WebSocket fragments that add up to more) fails the session at once,
//     before a byte of the payload is read: a connection that has not
//     joined holds at most that much. After WELCOME the limit is
//     Server.MaxMessageSize.
//   - All connections together hold at most Server.PartialBudget in
//     messages still arriving. A message over 4 KiB reserves its whole
//     length when its header arrives and gives it back when it is whole;
//     a connection whose message does not fit is closed (ABORT, close
//     1013) and the others go on. It is counted (PartialBudget.Refused),
//     as are the sessions refused by the pre-WELCOME limit
//     (ServerStats.TooLargeBeforeWelcome).
//   - Read buffers grow with the bytes that arrive, never beyond the
//     frame, and go as soon as the frame is consumed; the reassembly
//     buffer of a fragmented message goes once the message is delivered.
//     After a spike (32 MiB of such buffers given back, or of what TLS
//     handshakes and the ciphers of connections gone quiet leave to the
//     garbage collector: a connect storm, some 64 KiB a handshake; and
//     at least a quarter of the live heap), the
//     Server hands the memory back to the operating system
//     (debug.FreeOSMemory, once the spike has been over for 3s, or 10s
//     into a longer one and again at its end; at most every 10s;
//     ServerStats.MemoryReleases), which Go's heap would otherwise keep
//     for minutes.
//   - With Server.Deflate, a compressed WebSocket message is limited on
//     the wire to about its limit (websocket.CompressedLimit) like any
//     other, and decompressed once whole, within the same limit: output
//     past it fails the session (close 1009, ServerStats.InflatedTooLarge)
//     having made the router hold no more than the limit, zip bomb or not.
//     The decompressed message is held in the PartialBudget too: its
//     buffer grows, from four times the compressed length, by doubling,
//     and each step is reserved first, so a message a few hundred bytes
//     on the wire that decompresses to more than the room left is refused
//     like any other that does not fit (close 1013). It is held, and its
//     reservation kept, only while it is delivered; the decompressor comes
//     from a pool for that time.
//
// # Closing
//
// Closing flushes what is queued (within a grace period of 2s), sends the
// WebSocket close frame, half-closes the connection and waits (within the
// same grace) for the client to close its side, so that the last messages,
// an ABORT say, are not lost to a TCP reset; a client's own close frame
// ends the wait. The epoll engine does this without a goroutine: the
// timer wheel bounds each step. WebSocket close codes:
//
//	1000 normal       the session ended with GOODBYE or an ABORT that is
//	                  not a protocol violation; or the client's own code,
//	                  echoed, when it closed first
//	1001 going away   the router shut down (GOODBYE or ABORT with
//	                  wamp.close.system_shutdown), Server.Shutdown ran out
//	                  of time, idle or ping timeout, or the client went
//	                  away without a close frame
//	1002 protocol     WebSocket framing errors: an unmasked client frame,
//	                  reserved bits or opcodes (RSV1 without
//	                  permessage-deflate, or on a control or continuation
//	                  frame), bad fragmentation, bad control frames
//	1003 unsupported  a binary message on a JSON session or a text message
//	                  on a MessagePack or CBOR session
//	1007 invalid data a text message (or close reason) that is not UTF-8,
//	                  or a compressed message that is not valid DEFLATE
//	1008 policy       the session was aborted for a protocol violation (a
//	                  message that does not decode, no HELLO in time), or
//	                  dropped as a slow consumer (its queue full when the
//	                  router closed it, or no room to answer its pings)
//	1009 too big      a message over Server.MaxMessageSize, or before
//	                  WELCOME over Server.MaxPreWelcomeMessageSize (for a
//	                  compressed one: once decompressed)
//	1011 internal     the router panicked while handling a message
//	1013 try later    the message does not fit in Server.PartialBudget
//
// Every transport-level violation also sends the session an ABORT
// wamp.error.protocol_violation (through router.Session.Fail) before the
// close, so that the client learns why in WAMP terms as well.
//
// The frame parsing and encoding, and the handshakes' byte-level parts, live
// in the subpackages as functions over byte slices, which both engines
// share. Above them, everything after the transport handshake is one path
// for both engines too (wire, in wire.go): framing messages, pings, pongs
// and the close frame onto the connection's output, and taking the frames
// a client sends to its session. The engines differ only in where the
// output lives and how it is written, how bytes are read, and their timers;
// the output passes one seam (link), where a TLS record layer for the epoll
// engine would seal it. The epoll engine runs the WebSocket upgrade (gobwas/ws, no
// net/http) over the request bytes in memory once they are all there, and
// answers a bad request line before the headers, as goroutine mode does;
// an upgrade request is limited to 16 KiB: one over it is answered 431
// Request Header Fields Too Large, and the connection half-closed and
// read until the client closes its side (within the close grace), so
// that the answer is not lost to a reset, on both engines.
package transport
