// Package websocket implements WAMP-over-WebSocket (RFC 6455) on top of
// github.com/gobwas/ws: the server's opening handshake with WAMP
// subprotocol negotiation, and frame parsing, message reassembly and frame
// encoding over byte slices.
//
// Like package rawsocket it is cut in two layers:
//
//   - Pure code over byte slices that never blocks: [ParseHeader] and
//     [Reader] (frames to messages: unmasking, fragment reassembly, size
//     limit, UTF-8 and control-frame rules, each violation a [CloseError]
//     carrying the close code to send), and the append-style encoders
//     [AppendHeader], [AppendControl], [AppendClose], and [BeginFrame] /
//     [EndFrame] to encode a message straight into an output buffer. A
//     goroutine-per-connection transport and a non-blocking engine share
//     them.
//   - [Upgrader], the blocking server handshake on the raw connection
//     (gobwas/ws's zero-copy ws.Upgrader: no net/http, no per-request
//     allocations beyond the handshake's own): path check, Origin check and
//     subprotocol choice.
//
// # Compression
//
// With Upgrader.Deflate the upgrade accepts permessage-deflate (RFC 7692),
// always with server_no_context_takeover and client_no_context_takeover so
// that a connection holds no compression state between messages. The
// Reader then takes compressed messages (Reader.Deflate) and decompresses
// each, once whole, within its maximum message size (Inflate stops at the
// limit: a zip bomb costs no more than a message of that size);
// [AppendDeflate] compresses what is sent (the transport does it before it
// takes the connection's lock, and frames the result with RSV1 set), and
// [DeflateBytes] a message sent to many connections, once.
//
// # WAMP rules
//
// The subprotocols are wamp.2.json, wamp.2.msgpack and wamp.2.cbor, chosen
// in the client's order of preference. A client that offers none of them
// (or no subprotocol at all) is refused with 400 Bad Request, as is an
// upgrade request that announces a body (what follows the request's head
// is the client's first frames; see ErrRequestBody). JSON travels
// in text frames, MessagePack and CBOR in binary frames; a message of the
// other kind is refused with close code 1003 (unsupported data) rather
// than guessed at, since a peer that mixes them is broken.
package websocket
