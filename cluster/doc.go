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
//	N.ctl          broadcast: heartbeats, goodbyes, interest changes,
//	               batches of session changes
//	N.sync.<node>  a request for <node>'s whole interest or session table
//	N.snap.<node>  the chunks of a table <node> asked for
//	N.pub.<node>   publications for <node>'s subscribers
//	N.call.<node>  messages of calls in flight with <node>: INVOCATION and
//	               INTERRUPT to a callee's node, RESULT and ERROR back
//	N.meta         broadcast: a meta procedure call every node answers
//	               for its own sessions, subscriptions, registrations
//	N.ans.<node>.<nonce>  the answers to one such call of <node>, in
//	               chunks that fit in NATS's max_payload
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
// Protocol version. Every message on N.ctl carries the version of what
// nodes send one another (wireVersion, raised with any change to it). A
// node takes another for a member only when their versions are the same;
// one that runs another version (a stranger) is never a member: nothing is
// routed to it (no call, publication or meta query), its interest and
// sessions are not taken, and what it asks (tables, meta answers, cookie
// logins) is not answered, nor are its cookie logins taken. The two act as
// the two sides of a partition; each logs the other once, at error level,
// and counts its control messages (Incompatible). Nodes of one cluster run
// the same build; an upgrade that raises the version splits the cluster
// into old and new nodes until the last is restarted. Two things are not
// split: the JetStream streams of the event store (history, retained
// events: store.go has their own record format), which every node of the
// cluster name shares; and builds from before the version was sent, which
// announce none and take newer nodes for members: they still send calls
// and publications to them, which are served when they decode.
//
// Interest. Each node keeps the set of (realm, match, topic) it has local
// subscribers for, and of (realm, match, procedure) it has callees for,
// with the callees of each shared registration (session id, shard key,
// stamp) and the node keys of each sharded subscription, and broadcasts
// every change with a sequence number; its heartbeat carries the latest.
// A node that misses a change (a gap in the sequence, or a heartbeat ahead
// of what it has) asks for the whole table (N.sync) and applies the
// changes that came meanwhile on top of it. From
// these tables a node knows which nodes have a subscription matching a
// topic (the same exact, prefix and wildcard rules as the broker), and a
// publication crosses NATS once per such node, never once per subscriber,
// and not at all when no other node is interested. A subscription made on
// one node takes effect elsewhere once its announcement arrived there.
//
// Calls. The caller's node decides where a call goes (Node.Callee): the
// best registration of the cluster by the specification's precedence
// (wamp.Precedes), and among the callees of every node that has it, the
// one the registration's policy picks, cluster-wide: roundrobin weighted by
// the nodes' callee counts, random uniform over the callees, first and
// last by the callees' stamps (a hybrid logical clock: wall clock, moved
// past every stamp learnt from another node, ties by node id), and a
// partitioned call's rkey by rendezvous hashing over the shard keys of
// every node. The callee's node then applies the same policy to its own
// callees, which lands on the callee meant (policy.go says how exactly).
// The messages of calls for one node cross in batches (call.go): the
// router marks the messages that arrived together (BeginBatch, EndBatch:
// an epoll loop's round of reads, or one read of a connection in
// goroutine mode), and what they send to a node goes in one NATS message
// at the end; a message outside a batch goes at once.
// Sharded subscriptions rank the node keys of every node the same way.
//
// Waiting on NATS (outbox.go). nats.go's Publish takes the connection's
// lock, which nats.go's flusher holds while it writes to the NATS server
// (an in-memory pipe read at once with the embedded server, a socket with
// an existing NATS), and writes itself once 32 KiB wait: a NATS server
// that stops reading would stall whoever publishes, each write for up to
// nats.go's FlusherTimeout (1 minute). So what the node sends (Forward,
// Interest, publications, heartbeats, answers, requests for a node's
// tables) goes through its outbox:
// copied into a buffer under a lock of its own and published, in order,
// by one goroutine of the node's, never by the router's event loops. The
// outbox holds at most outboxBytes (8 MiB) that NATS has not taken; past
// that a message is refused like one nats.go refuses (counted in
// SendFailures, logged at most five lines at once then one per 10 s, and
// for INVOCATIONs the calls failed at once).
// Node.Stats and Connected, which /metrics and /readyz call, never ask
// nats.go (it answers under that same lock): Connected follows its status
// callbacks, and Stats gives its counts as the outbox's goroutine last
// read them (at every round, so at least every heartbeat) and the bytes
// waiting in the outbox (cluster_outbox_bytes).
//
// Meta API (meta.go). The session, subscription and registration meta
// procedures answer for the cluster by scatter-gather: the node that got
// the CALL asks the nodes it takes for alive on N.meta and merges their
// parts with its own (router/meta_cluster.go). It waits at most
// QueryTimeout (half the node timeout by default), off the router's
// event loops, and for a procedure about one thing (session.get, kill,
// remove_*) only until the node that has it answers; a node that has not
// answered by then is left out of the answer, counted (MetaNodesMissing)
// and logged, and the RESULT says how many were. A node's part crosses in
// chunks that fit in NATS's max_payload, sent at the pace NATS takes them
// (outbox.putPaced), at most 16 MiB of it, and the asking node holds at
// most that much of one query's parts: a larger one is missing too.
//
// Sessions (sessions.go). Each node tells the others its sessions (realm,
// id, authid, authrole) and their testaments, in numbered batches sent at
// most 50 ms after the first change, recovered like the interest table
// when one is missed. When a node is lost (not when it says goodbye:
// its sessions left through its own router), the live node with the
// lowest id publishes each of its sessions' testaments and
// wamp.session.on_leave (router.Router.SessionsLost), on a goroutine of
// its own, after it says so (kindAnnounced); the others keep the table
// and announce it themselves if that claim does not come (sessions.go).
// Each node so keeps about 100 bytes per session of every other node
// (TestSessionTableMemory), and nothing per session of its own: it
// answers a table request from its router (Router.AnnouncedSessions).
//
// A node's NATS connection does not get its own messages back
// (nats.NoEcho): every broadcast would otherwise come back to be decoded
// and dropped.
//
// Locks. members.mu -> localInterest.mu (a peer's registration is checked
// against this node's) -> localSessions.sendMu -> localSessions.mu;
// revokeMu, gathering.mu (meta.go) and callBatches.mu are leaves (the latter held while nats.go
// copies a batch into its buffer). The router calls a Node holding its own locks
// (router/doc.go), and a Node calls the router holding none; SessionJoined,
// SessionLeft and SessionTestaments come under a session's lock, which
// comes before localSessions.mu.
//
// Event store (store.go, jetstream.go). The node is also the router's
// router.SharedStore: event history and retained events live in
// JetStream, which the embedded servers run (data in Config.StoreDir, the
// server name kept there so that a restarted node is the same JetStream
// peer) and an existing NATS must run itself. Streams, with
// Config.Replicas copies each (min(3, known nodes) by default):
//
//	N_history_<h>  one per history rule <h> (a hash of realm and rule),
//	               subject N.history.<h>, MaxMsgs the rule's limit and
//	               MaxBytes its MaxBytes (JetStream reserves them); each
//	               message a node stamp (8 bytes) and a history record
//	N_retained     subjects N.retained.<hash of realm and topic>, one
//	               message per subject: the realm and the record of the
//	               topic's retained event
//
// Retained events: every node watches N_retained with an ordered consumer
// (the last message per subject, then each new one) into its router's
// in-memory retained events, which SUBSCRIBE's get_retained reads as on
// one node: no I/O on the event loop, the same ordering of retained
// before live events, at the cost of a few milliseconds before another
// node's retained event is seen. A node retains its own publication in
// memory at once and stores it; stream order decides the last one on
// every node. The retained stream is a plain stream rather than a KV
// bucket because KV refuses new keys when full, where retention drops
// the topic retained longest ago.
//
// History: one writer goroutine publishes what the router appended, in
// order, with JetStream's asynchronous acknowledgements (at most 1024 in
// flight), and reports each store to AppendDurable's callback, from which
// the router sends PUBLISHED (or ERROR); the embedded servers sync every
// stored message to disk before they acknowledge it (SyncAlways), as the
// single node's history commits before PUBLISHED. The queue is bounded (8192
// events, 32 MiB); past it an append fails and is counted, and so does one
// of an event whose message alone is larger than its rule's MaxBytes (as
// JetStream counts it): stored, it would take every other message of the
// stream with it. get_events waits for this node's queued stores, reads
// the streams of the rules that cover the subscription with ordered
// consumers, merges them by stamp and selects with history.Select, as
// history.Store does on disk.
// The streams are made, or updated to the rules' limits, in the
// background at start, since clustered JetStream only runs once a second
// node is up; until then stores fail after a short try.
//
// Ordering. A node publishes everything on one NATS connection and reads
// each subject on one subscription, so the events of one publisher reach
// every node, and so every subscriber, in the order published.
package cluster
