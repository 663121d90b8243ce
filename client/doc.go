// Package client is Junction's Go WAMP client: it joins a realm on any WAMP
// v2 router over WebSocket or RawSocket, in JSON, MessagePack or CBOR, and
// publishes, subscribes, calls and registers.
//
// Dial opens a Session:
//
//	s, err := client.Dial(ctx, "ws://127.0.0.1:8080/ws", "realm1", nil)
//	...
//	defer s.Close(ctx)
//	res, err := s.Call(ctx, "com.example.add", wamp.List{2, 3}, nil, nil)
//
// URLs name the transport: ws:// and wss:// (WebSocket, plain or TLS), rs://
// and rss:// (RawSocket over TCP, plain or TLS) and unix:///path (RawSocket
// over a Unix socket).
//
// A Session is safe for concurrent use. It runs one goroutine that reads from
// the connection; frames written by any number of goroutines are queued and
// written together by a writer goroutine that exists only while there is
// something to write. Event handlers run on a goroutine per subscription
// (events keep their order) and invocation handlers on a goroutine per call,
// so a slow handler never holds up the connection. Calls in flight at once
// are not limited by the client; a session whose router stops reading blocks
// its senders once MaxPendingBytes are queued.
//
// Payloads arrive raw, in the session's serialization, and are decoded on the
// goroutine that hands them to the application (the caller of Call, the
// handler's goroutine), never on the reading goroutine. Every Event,
// Invocation and Result keeps the raw payload in its Raw field, so a callee
// can answer with what it received without decoding and encoding again.
package client
