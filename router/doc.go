// Package router is Junction's WAMP router core: realms, sessions, the broker
// (publish and subscribe) and the dealer (routed calls).
//
// It does no I/O. A transport attaches each client connection through the
// Peer interface (send a message without blocking, close) and feeds the
// session the messages it decodes; everything the router says goes back
// through Peer.Send. So the goroutine-per-connection transports, an
// event-driven engine and a cluster backbone all plug in the same way.
//
// There is no routing goroutine: a message is routed on the goroutine that
// delivered it, under short-held locks on the realm's topic and procedure
// tables, so routing scales with the cores that feed it. The router never
// blocks on a slow client: Peer.Send never waits, and when a client's queue
// is full the slow-consumer policy decides (see SlowConsumerPolicy).
package router
