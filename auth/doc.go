// Package auth authenticates the clients that join a realm and authorizes
// what their sessions do.
//
// Authentication: an [Authenticator] implements one WAMP authmethod
// (anonymous, ticket, wampcra, wamp-scram, cryptosign, tls, cookie). The
// router picks one from the client's HELLO.Details.authmethods with
// [Policy.Choose] and runs its Authenticate on a goroutine of its own, so
// that a key derivation or a call to a dynamic authenticator never holds up
// the goroutine (or event loop) that reads the client's connection. An
// authenticator that needs an answer from the client sends a CHALLENGE and
// waits for the AUTHENTICATE through the [Challenger] the router gives it.
// Authenticators that decide at once from the HELLO and the transport
// (anonymous, tls, cookie) also implement [Immediate], which the router
// calls inline.
//
// A ticket is checked against its stored hash (Argon2id or PBKDF2), which
// costs tens of milliseconds of CPU: the router's [KDFLimiter] bounds those
// hashes and shares them out fairly among client addresses, and drops the
// checks of clients that have gone. A [Throttle] holds back the logins of
// an address that keeps failing, and lets one address have only a few
// logins going on at once (the others wait their turn), so that logins in
// parallel guess no faster.
//
// Principals (authid, role and the stored form of their secret) come from
// the configuration ([Principals]) or from a WAMP procedure registered by a
// trusted component ([Dynamic]); either way the authenticators compare
// secrets in constant time, never log them, and refuse with a reason that
// does not tell whether the authid exists.
//
// Authorization: [Roles] gives each role permissions per URI pattern
// (exact, prefix or wildcard, the most specific match winning, as in
// wamp.PatternIndex) for call, register, publish and subscribe, where a
// pattern may contain {authid} and {authrole}; or names a WAMP procedure
// that decides, with its answers cached. The router asks a
// [SessionAuthorizer], bound to one session at join, before a PUBLISH,
// SUBSCRIBE, CALL or REGISTER reaches the broker or the dealer.
//
// The package does no I/O of its own: calls to WAMP procedures go through
// the [Caller] the router passes in.
package auth
