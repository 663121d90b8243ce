// Package client is Junction's Go WAMP client: it joins a realm on any WAMP
// v2 router over WebSocket or RawSocket, in JSON, MessagePack or CBOR, or
// in-process to a Junction router, and publishes, subscribes, calls and
// registers, with the Advanced Profile's options.
//
// Dial opens a Session:
//
//	s, err := client.Dial(ctx, "ws://127.0.0.1:8080/ws", "realm1", nil)
//	...
//	defer s.Close(ctx)
//	res, err := s.Call(ctx, "com.example.add", wamp.List{2, 3}, nil, nil)
//	sum, err := client.Arg[int](res.Args, 0)
//
// URLs name the transport: ws:// and wss:// (WebSocket, plain or TLS), rs://
// and rss:// (RawSocket over TCP, plain or TLS; tcp:// and tls:// are the
// same) and unix:///path (RawSocket over a Unix socket). ConnectLocal joins
// a *router.Router in the same process, with no socket; it knows the router
// by an interface (LocalRouter), so a program that only dials does not link
// the router.
//
// # Authentication
//
// Options.Credentials offers Ticket, WAMPCRA (plain or salted), SCRAM
// (WAMP-SCRAM, Argon2id or PBKDF2), Cryptosign (Ed25519), TLSCertificate
// (the certificate in Options.TLSConfig) and Cookie; Options.AuthID names the
// principal. A router that refuses the client makes Dial fail with a
// *CloseError whose Reason is wamp.error.authentication_failed (or
// wamp.error.no_auth_method).
//
// Cookie logs in with the cookie a router sets in the WebSocket upgrade (a
// Junction listener with cookie set), kept in Options.CookieJar: every
// connect sends the jar's cookies for the URL and stores the ones the router
// sets. Offer Cookie before the methods that log in without it; the first
// session logs in with those, and later sessions and reconnects with the
// same jar join as the same principal by cookie, without using their
// secrets:
//
//	jar, _ := cookiejar.New(nil)
//	opts := &client.Options{AuthID: "joe", CookieJar: jar,
//		Credentials: []client.Credential{client.Cookie(), client.Ticket(ticket)}}
//	s, err := client.Dial(ctx, "wss://router.example.com/ws", "realm1", opts)
//	// s.Details()["authmethod"] is "ticket" the first time, "cookie" after
//
// Offering the cookie costs nothing when the router does not know it (the
// router takes the first offered method that knows the client), and a
// session offering only Cookie is refused then. Session.Logout ends a
// session with GOODBYE wamp.close.logout, after which the router no longer
// knows the cookie.
//
// # Concurrency
//
// A Session is safe for concurrent use. It runs one goroutine that reads from
// the connection; frames written by any number of goroutines are queued and
// written together by a writer goroutine that exists only while there is
// something to write. Handlers never run on the reading goroutine, so a slow
// handler holds up neither the connection nor other handlers:
//
//   - Events reach each Subscription's handler on a goroutine of that
//     subscription, one at a time and in the order the router sent them;
//     events queue while the handler works. Two subscriptions' handlers run
//     concurrently. A handler that wants concurrency starts goroutines.
//   - A subscription's queue is bounded: Options.EventQueue events
//     (DefaultEventQueue, 1024, unless set) may wait for its handler. An
//     event that finds the queue full is dropped, not waited for, since
//     waiting would stall the session's other traffic: the events already
//     queued are kept and delivered in order, Subscription.Dropped counts
//     the drops, Options.OnEventDropped is told of each, and the first drop
//     of a run is logged at warning level. A handler that must see every
//     event keeps up (or hands events to its own queue); the router itself
//     drops events for a session that does not read them fast enough
//     (limits.slow_consumer).
//   - Invocations run on a goroutine each (Register), concurrently and in
//     any order. RegisterOrdered runs a registration's invocations one at a
//     time, in the order the router sent them, for handlers where order
//     matters (applying commands to a state, say).
//   - To keep order across several subscriptions or registrations, send
//     from their handlers to one channel that a single goroutine reads.
//   - A handler's panic is recovered and logged with its stack: the
//     subscription's next event is delivered, an invocation is answered
//     with wamp.error.runtime_error.
//   - Handlers and callbacks may use the session, Close included ("on
//     event X, shut down"): Close does not wait for the goroutine it is
//     called on (see Session.Close).
//
// A call whose context ends returns at once with the context's error, and
// the router is asked to cancel it (Options.CancelMode); the call's
// bookkeeping goes with it, and the router's late answer is dropped.
//
// Calls in flight at once are not limited by the client; a session whose
// router stops reading blocks its senders once MaxPendingBytes are queued.
//
// # Reconnecting
//
// With Options.Reconnect a session connects again, with backoff and jitter,
// when its connection is lost, joins the realm again and restores its
// subscriptions and registrations; OnDisconnect, OnReconnect and
// OnAttemptFailed tell the application, on a goroutine that the reconnect
// does not wait for (an attempt the router refuses, its credential
// revoked, say, is an ABORT the application may take as a reason to
// Close). With Reconnect.URLs it moves to another router (a node of a
// cluster) when its own goes away. Requests in flight fail with an error
// wrapping ErrConnectionLost. See Reconnect.
//
// # Payloads
//
// Payloads arrive raw, in the session's serialization, and are decoded on the
// goroutine that hands them to the application (the caller of Call, the
// handler's goroutine), never on the reading goroutine. Every Event,
// Invocation and Result keeps the raw payload in its Raw field, so a callee
// can answer with what it received without decoding and encoding again.
// Arg, Kwarg and Decode convert decoded values to Go types.
//
// With Options.PayloadPassthru the session announces payload passthru
// mode: CallOptions.Passthru, PublishOptions.Passthru and a handler's
// Result.Details (a Passthru's Dict) send the ppt_* options with a payload
// the router does not interpret (an MQTT message, an end-to-end encrypted
// blob in Args), and PassthruOf reads them from what arrives. Encrypting
// and decrypting are the application's.
//
// # Errors
//
// A WAMP ERROR comes back as an *Error with the error URI, arguments and
// keyword arguments; a handler returns one to answer with its own URI. A
// session the router ended reports a *CloseError.
package client
