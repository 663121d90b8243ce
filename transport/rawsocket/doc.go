// Package rawsocket implements WAMP-over-RawSocket, the length-prefixed
// framing of the WAMP specification's advanced profile.
//
// The package is cut in two layers so that both of Junction's connection
// engines share the protocol code:
//
//   - Pure functions over byte slices, which never block and never allocate:
//     [ParseHandshake], [ParseReply] and [Negotiate] for the 4-octet opening
//     handshake; [Next] and [ParseHeader] split frames off a read buffer and
//     say how many bytes they still need; [AppendHandshake],
//     [AppendHandshakeError], [AppendFrame], and the pair [BeginFrame] /
//     [EndFrame] (encode a message straight into an output buffer, then
//     patch its header) build the bytes to send. A non-blocking engine feeds
//     them whatever the socket had.
//   - [Accept], the blocking server side of the handshake on an io.ReadWriter,
//     for goroutine-per-connection code.
//
// # Handshake
//
// The client sends 0x7F, then LLLL SSSS (its maximum message length 2^(9+L)
// and the serializer S: 1 JSON, 2 MessagePack, 3 CBOR), then two zero
// octets. The router answers with the same layout carrying its own maximum
// length and the serializer echoed, or with an error reply 0x7F EEEE0000 0 0
// and closes.
//
// # Framing
//
// Every transport message is prefixed with 4 octets, RRRR XTTT followed by a
// 24-bit big-endian length: R reserved (must be zero), T the type (0 WAMP
// message, 1 PING, 2 PONG; 3-7 reserved), and X the 25th length bit, set
// only for a payload of exactly 2^24 octets with the other length bits zero.
// (Older revisions of the specification counted X as a fifth reserved bit;
// the two agree on every frame except that one length.)
package rawsocket
