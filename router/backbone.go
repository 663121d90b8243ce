package router

import (
	"context"
	"encoding/binary"
	"hash/fnv"

	"github.com/junction-wamp/junction/wamp"
)

// Backbone is the seam through which several routers (nodes) act as one:
// what a node must tell the others, and what it must send them. The router
// calls it; package cluster implements it over NATS. On a single node
// Config.Backbone is nil and each call site is one nil check, so a router
// without a cluster pays nothing else.
//
// Only identities cross this seam (session ids, authids, authroles), never
// pointers, so that what a node receives from another can be applied to
// its own sessions. A Backbone must not block and must not call back into
// the router from these methods: the router calls them while it routes, and
// Interest under the broker's lock. (Package cluster queues what it sends
// and publishes it on a goroutine of its own: cluster/doc.go.)
type Backbone interface {
	// Interest says that the realm's broker now has (added) or no longer
	// has a subscription (match, topic) with subscribers on this node.
	// The calls for one realm come in the order of the changes.
	Interest(realm wamp.URI, match wamp.Match, topic wamp.URI, added bool)
	// NodeKey says that the realm's subscription (match, topic) now has
	// (added) or no longer has subscribers on this node with node key
	// nkey (sharded subscriptions); called under the subscription's lock,
	// in the order of the changes.
	NodeKey(realm wamp.URI, match wamp.Match, topic wamp.URI, nkey string, added bool)
	// Shard returns, of the node keys the other nodes have for the
	// subscription (match, topic), the one that scores highest for rkey
	// (ShardScore), and its score; ok is false when they have none.
	Shard(realm wamp.URI, match wamp.Match, topic wamp.URI, rkey string) (nkey string, score uint64, ok bool)
	// Publish hands a publication, already delivered to this node's
	// subscribers, to the other nodes that have a matching subscription.
	// The payload may alias a buffer the router reuses: Publish must
	// encode or copy it before it returns.
	Publish(p *Publication)

	// Registered says that the realm's dealer now has (added) or no
	// longer has a registration (match, procedure) with callees on this
	// node, with its invocation policy ("single", "roundrobin", ...);
	// called under the dealer's lock, in the order of the changes.
	Registered(realm wamp.URI, match wamp.Match, procedure wamp.URI, invoke string, added bool)
	// Registration reports whether another node has the registration
	// (match, procedure), and its invocation policy: a REGISTER that
	// would conflict with it is refused.
	Registration(realm wamp.URI, match wamp.Match, procedure wamp.URI) (invoke string, ok bool)
	// CalleeChanged says that a callee (its session id, and its shard
	// key: the REGISTER's nkey, or the session id in decimal) joined
	// (added) or left this node's registration (match, procedure) with
	// policy invoke; called under the dealer's lock in the order of the
	// changes, after Registered for a registration's first callee and
	// before it for its last. With it a cluster applies shared and
	// sharded registrations' policies to the callees of every node.
	CalleeChanged(realm wamp.URI, match wamp.Match, procedure wamp.URI, invoke string, session wamp.ID, key string, added bool)
	// Callee decides where a call goes: to another node (ok, with that
	// node's registration's match policy and pattern), or, when ok is
	// false, to this node's callees of its registration c.Match,
	// c.Pattern (or nowhere, when c.Local is false). The best
	// registration of the cluster by the specification's precedence
	// wins; among the callees of the best one on every node (this one's
	// too) the registration's invocation policy, or a partitioned call's
	// resource key, picks as on one node. Called under the dealer's read
	// lock, so that this node's callees cannot change meanwhile.
	Callee(realm wamp.URI, c CallRoute) (node uint64, match wamp.Match, pattern wamp.URI, ok bool)
	// Forward sends a message of a call in flight to the node at its
	// other end: INVOCATION (with its call's origin, nil for any other
	// message) and INTERRUPT to the callee's node, RESULT and ERROR to
	// the caller's node, which hands them to its Router.DeliverCallMessage.
	// It must encode m and origin before it returns; an error says the
	// message could not be handed to the transport.
	// Between BeginBatch and EndBatch it may hold the message back, to
	// send it with the others for the same node.
	Forward(node uint64, realm wamp.URI, m wamp.Message, origin *CallOrigin) error
	// BeginBatch and EndBatch enclose messages that arrived together
	// (Router.BeginBatch: an event loop's round of reads, or one read of
	// a connection in goroutine mode): what Forward held back
	// meanwhile goes at EndBatch at the latest, in the order of the
	// calls, so that the many messages of a busy round cross to each
	// node in one NATS message rather than one each. Batches may
	// overlap; a Forward outside any batch sends at once.
	BeginBatch()
	EndBatch()

	// Gather asks every other live node for its own part of the answer
	// to a meta procedure call (Router.AnswerMeta there) and returns the
	// parts that arrived, and how many nodes' parts did not (in time, or
	// whole: the backbone logs and counts them too). With q.First it
	// returns at the first answer that Found the thing asked about,
	// without waiting for the other nodes. It is the one method that waits: the router
	// calls it from a background task, never while it routes.
	Gather(ctx context.Context, q *MetaQuery) (answers []MetaAnswer, missing int)
	// SessionJoined, SessionLeft and SessionTestaments tell the other
	// nodes which sessions this node has, and the testaments each holds
	// (all of them, detached ones first, nil for none), so that when
	// this node dies another announces their leave and publishes their
	// testaments (Router.SessionsLost). The calls for one session come
	// in order, under its lock; the Backbone must copy what it keeps.
	SessionJoined(realm wamp.URI, id wamp.ID, authid, authrole string)
	SessionLeft(realm wamp.URI, id wamp.ID)
	SessionTestaments(realm wamp.URI, id wamp.ID, t []Testament)
}

// MetaQuery is a meta procedure call as it crosses nodes: each node
// answers it for its own sessions, subscriptions and registrations.
type MetaQuery struct {
	Realm     wamp.URI
	Procedure wamp.URI
	Args      wamp.List
	Kwargs    wamp.Dict
	Caller    wamp.ID // the calling session, on the asking node
	// First says that one node's answer that Found the thing asked
	// about is the answer (the procedure acts on one thing, which one
	// node has, or looks up an id every node gives alike): the others
	// need not be waited for. It does not cross nodes.
	First bool
}

// MetaAnswer is one node's part of the answer to a MetaQuery: the RESULT
// arguments, or an error URI and its message.
type MetaAnswer struct {
	Args    wamp.List
	Error   wamp.URI
	Message string
}

// Found reports whether the node that gave a has what a First query asks
// about: a is neither an error nor null (a lookup that found nothing
// there answers null, and another node may have it).
func (a *MetaAnswer) Found() bool { return a.Error == "" && !isNull(a.Args) }

// isNull reports whether a meta procedure's result arguments are [null].
func isNull(args wamp.List) bool { return len(args) == 1 && args[0] == nil }

// Testament is a testament (testament.go) as it crosses nodes: the
// PUBLISH to make when its session ends.
type Testament struct {
	Topic   wamp.URI
	Options wamp.Dict
	Payload wamp.Payload
}

// CallRoute is what the dealer knows of a call it routes when it asks the
// Backbone where it goes (Callee).
type CallRoute struct {
	Procedure wamp.URI
	// RKey is the resource key of a partitioned call (runmode
	// "partition"), "" for any other.
	RKey string
	// Local is set when this node has a registration that matches
	// Procedure: its best, (Match, Pattern), with invocation policy
	// Invoke.
	Local   bool
	Match   wamp.Match
	Pattern wamp.URI
	Invoke  string
}

// Publication is a publication as it crosses nodes: what a node needs to
// deliver it to its own subscribers as the publisher's node would have.
type Publication struct {
	Realm wamp.URI
	Topic wamp.URI
	ID    wamp.ID // the publication id, the same in every EVENT of it
	// Details is EVENT.Details as built for the subscribers: the disclosed
	// publisher, the trust level, the payload passthru options; nil for a
	// plain publication.
	Details wamp.Dict
	Payload wamp.Payload
	// Options are the PUBLISH options that decide which subscribers
	// receive the event elsewhere (exclude, eligible, exclude_authid,
	// eligible_authid, exclude_authrole, eligible_authrole, rkey); nil
	// when the publication has none of them, and for meta events.
	Options wamp.Dict
}

// DeliverPublication delivers a publication that another node received to
// this node's subscribers of its realm, applying its black- and whitelists
// and payload passthru rules to them. The publisher is on another node, so
// publisher exclusion has nothing to exclude here. It is not retained and
// not recorded in the event history here: the publisher's node did that,
// in the cluster's store (SharedStore), which every node reads. A publication
// whose options do not read is dropped with the error returned.
func (r *Router) DeliverPublication(p *Publication) error {
	rl := r.realmNamed(p.Realm)
	if rl == nil {
		return nil // no realm here, so no subscriber either
	}
	var o publishOptions
	if len(p.Options) > 0 {
		if err := o.readLists(p.Options); err != nil {
			return err
		}
		var err error
		if o.rkey, err = wamp.OptString(p.Options, "rkey", ""); err != nil {
			return err
		}
	}
	if o.rkey != "" {
		o.realm = p.Realm
	}
	var err error
	if o.ppt, err = passthru(p.Details); err != nil {
		return err
	}
	o.filtered = o.restricted || o.ppt != nil
	rl.broker.fanout(nil, p.Topic, p.ID, p.Details, p.Payload, &o)
	return nil
}

// forward hands a publication delivered here to the other nodes, when
// there are any. Only the options that matter to their subscribers go
// along.
func (b *broker) forward(rl *realm, topic wamp.URI, pubID wamp.ID, details wamp.Dict, payload wamp.Payload, o *publishOptions, opts wamp.Dict) {
	bb := b.router.cfg.Backbone
	if bb == nil {
		return
	}
	p := &Publication{Realm: rl.name, Topic: topic, ID: pubID, Details: details, Payload: payload}
	if o.restricted || o.rkey != "" {
		p.Options = opts
	}
	bb.Publish(p)
}

// clusterID is the subscription or registration id of (realm, match, uri)
// in a cluster: a hash into [1, 2^53], the same on every node without any
// coordination, so that a topic has one subscription id and a procedure
// one registration id cluster-wide. taken reports whether an id is already
// used in the realm for something else; on such a collision (about n²/2^54
// for n subscriptions of a realm: one in a hundred million for ten
// thousand) the next probe is hashed, so that ids stay unique in the realm.
// Two nodes that disagree on which uri collided first may then give it
// different ids; routing never depends on the ids agreeing, since each node
// fills in its own subscription id in the EVENTs it sends.
func clusterID(realm wamp.URI, match wamp.Match, uri wamp.URI, taken func(wamp.ID) bool) wamp.ID {
	for probe := uint64(0); ; probe++ {
		h := fnv.New64a()
		h.Write([]byte(realm))
		h.Write([]byte{0, byte(match), 0})
		h.Write([]byte(uri))
		var p [8]byte
		binary.LittleEndian.PutUint64(p[:], probe)
		h.Write(p[:])
		x := h.Sum64()
		// splitmix64's finalizer spreads FNV's weak low bits.
		x ^= x >> 30
		x *= 0xbf58476d1ce4e5b9
		x ^= x >> 27
		x *= 0x94d049bb133111eb
		x ^= x >> 31
		id := wamp.ID(x%uint64(wamp.MaxID)) + 1
		if !taken(id) {
			return id
		}
	}
}
