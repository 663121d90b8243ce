package router

import (
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
// Interest under the broker's lock.
type Backbone interface {
	// Interest says that the realm's broker now has (added) or no longer
	// has a subscription (match, topic) with subscribers on this node.
	// The calls for one realm come in the order of the changes.
	Interest(realm wamp.URI, match wamp.Match, topic wamp.URI, added bool)
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
	// Callee returns another node with a registration that matches
	// procedure, the best match by the specification's precedence, and
	// that registration's match policy and pattern. Among several nodes
	// with the same best registration it spreads the calls.
	Callee(realm, procedure wamp.URI) (node uint64, match wamp.Match, pattern wamp.URI, ok bool)
	// Forward sends a message of a call in flight to the node at its
	// other end: INVOCATION and INTERRUPT to the callee's node, RESULT
	// and ERROR to the caller's node. It must encode m before it returns;
	// an error says the message could not be handed to the transport.
	Forward(node uint64, realm wamp.URI, m wamp.Message) error
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
