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
//
// # Waiting
//
// Work that must wait runs off the goroutine that routed the message, and
// answers through Peer.Send when it is done: authentication (join.go, a
// goroutine per HELLO with a deadline), the router's own calls to dynamic
// authenticators and authorizers (caller.go: answered on a goroutine of
// their own, canceled in the dealer at their timeout), event history
// queries and, in a cluster, the meta procedures that wait for the other
// nodes' parts (background.go: at most 32 at once, each with a deadline,
// stopped by Close; meta_cluster.go) and the acknowledgement of publications to topics with
// history (retention.go: PUBLISHED from the history writer once the
// publication is on disk). A SUBSCRIBE's retained events are sent with no
// broker or subscription lock held, each under the subscriber's own lock
// (broker.go, catchUp), so that publishers never wait for them.
//
// # Locks
//
// A goroutine that holds more than one lock took them in this order, from
// left to right; a lock on no line with another is taken alone:
//
//	authz gate.mu -> (anything a dynamic authorizer's call takes: every lock below,
//	                  since a callee whose queue is full is ended under it)
//	realm.mu -> Session.mu
//	realmHistory.retaining -> realmHistory.mu, broker.mu, subscription.mu, Session.mu
//	broker.mu -> subscription.mu -> Session.mu
//	             subscription.mu -> heldEvents.mu -> Session.mu
//	             subscription.mu -> broker.meta.mu
//	dealer.mu -> Session.mu, broker.meta.mu (the dealer's meta events queue there too)
//	Router.autoMu -> realmTable.mu (AddRealm)
//
// Session.mu is otherwise a leaf: no two sessions' locks are held at once
// (a caller's and its callee's included), and nothing is taken under one
// but the Backbone's own locks (SessionJoined, SessionLeft and
// SessionTestaments are called under it, so that they come in order).
// realmHistory.retaining is held by a retained publication from its
// fan-out until it is retained, and by a SUBSCRIBE with get_retained from
// reading the retained events until it holds the subscription (retention.go).
// Router.mu, realmHistory.mu (retained events: read before
// any broker lock is taken), internalCaller.mu, background.mu and
// realm.proxies.mu are leaves, and so is every lock of the history store,
// whose writer calls back (AppendDurable) holding none. Peer.Send is
// called under subscription.mu, dealer.mu and a session's own Session.mu
// (a callee's INVOCATION and the later ones of a progressive call, a
// subscriber's retained events, a progressive RESULT under its callee's
// lock, a final RESULT or ERROR, a meta call's late answer and a
// PUBLISHED under the lock of the session they answer, an INTERRUPT and a
// revocation's UNREGISTERED or UNSUBSCRIBED under the lock of the session
// they go to, Session.sendAnswer, or as the call is forgotten,
// dealer.forgetCall: to keep the order of what reaches a client, nothing
// after GOODBYE or UNREGISTERED); it never blocks and never calls back
// into the router, so the transport's own locks come after all of these.
// So is a Backbone (Interest, NodeKey and Shard under subscription.mu or
// broker.mu, Registered, CalleeChanged and Callee under dealer.mu, Forward of a
// progressive call's later chunks and results under Session.mu): its
// locks come after the router's, and it never calls back into the router
// from these methods nor waits on NATS (package cluster queues what it
// sends in an outbox of its own: cluster/doc.go).
package router
