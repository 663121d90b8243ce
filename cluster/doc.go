// Package cluster makes several Junction processes (nodes) act as one WAMP
// router, with NATS carrying what crosses nodes.
//
// A Node either runs a NATS server inside the process (nats-server as a
// library: its route port is the node's cluster address, the other nodes'
// route ports are joined; clients of the embedded server connect in-process
// only) or connects to an existing NATS deployment. It implements
// router.Backbone: the router tells it which subscriptions it has and hands
// it each publication it has delivered locally, and the node delivers what
// other nodes send it through router.DeliverPublication.
//
// Security. With TLS, the embedded server's routes are mutual TLS against
// the cluster's CA (a node without a certificate it issued cannot join);
// with RouteUser and RoutePassword, every route must give them. With an
// existing NATS, TLS and a .creds file are the NATS client's (nats.go
// reads the files on every connection). The in-process connection to the
// embedded server needs neither: it never crosses a socket.
//
// Subjects, under the cluster name N (cluster.name, "junction" by default):
//
//	N.ctl          broadcast: heartbeats, goodbyes, interest changes
//	N.sync.<node>  a request for <node>'s whole interest table
//	N.snap.<node>  the chunks of a table <node> asked for
//	N.pub.<node>   publications for <node>'s subscribers
//	N.call.<node>  messages of calls in flight with <node>: INVOCATION and
//	               INTERRUPT to a callee's node, RESULT and ERROR back
//	N.cookie       broadcast: cookie logins and logouts (cookies.go)
//	N.cookiesync.<node>, N.cookiesnap.<node>
//	               a starting node's request for <node>'s cookie logins,
//	               and the chunks of the answer
//
// Membership. Every node publishes a heartbeat every HeartbeatInterval (1 s)
// and a goodbye when it stops. A node not heard from for NodeTimeout (4 s)
// is taken for dead, checked every HeartbeatInterval/2: a node that dies is
// forgotten 4 to 4.5 s later (within the 5 s the issue asks for), one that
// stops is forgotten at once. Each process has a fresh random node id, so a
// restarted node is a new node to the others.
//
// Interest. Each node keeps the set of (realm, match, topic) it has local
// subscribers for, and of (realm, match, procedure) it has callees for, and broadcasts every change with a sequence number; its
// heartbeat carries the latest. A node that misses a change (a gap in the
// sequence, or a heartbeat ahead of what it has) asks for the whole table
// (N.sync) and applies the changes that came meanwhile on top of it. From
// these tables a node knows which nodes have a subscription matching a
// topic (the same exact, prefix and wildcard rules as the broker), and a
// publication crosses NATS once per such node, never once per subscriber,
// and not at all when no other node is interested. A subscription made on
// one node takes effect elsewhere once its announcement arrived there.
//
// Ordering. A node publishes everything on one NATS connection and reads
// each subject on one subscription, so the events of one publisher reach
// every node, and so every subscriber, in the order published.
package cluster
