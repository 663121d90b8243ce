package router

import (
	"context"
	"log/slog"

	"github.com/junction-wamp/junction/router/history"
	"github.com/junction-wamp/junction/wamp"
)

// EventStore keeps the realms' event history: on a single node the bbolt
// file of package history (*history.Store), in a cluster the store its
// Backbone opens (package cluster: JetStream streams that every node
// reads), so that get_events answers the same on every node. The router
// calls Append and AppendDurable on its routing goroutines: they must not
// block (they queue, or fail with history.ErrQueueFull).
type EventStore interface {
	// Keeps reports whether a rule of realm keeps topic's events.
	Keeps(realm, topic wamp.URI) bool
	// Append keeps ev, without waiting; a failure to store it later is
	// counted in Stats and logged by the store.
	Append(realm wamp.URI, ev history.Event) error
	// AppendDurable keeps ev and calls durable, once, when it is stored
	// for good (nil) or failed to be (the error): the router answers an
	// acknowledged publication from there. durable must not block, and
	// is not called when AppendDurable returns an error.
	AppendDurable(realm wamp.URI, ev history.Event, durable func(error)) error
	// Query answers get_events, after what this node appended before it
	// is stored (a caller sees its own publications).
	Query(ctx context.Context, realm wamp.URI, q *history.Query) ([]history.Event, error)
	Stats() history.Stats
	Close() error
}

var _ EventStore = (*history.Store)(nil)

// SharedStore is what a Backbone implements when it keeps the realms'
// event history and retained events where every node reads them. The
// router asks for it once, in New, with the history rules of its realms
// (possibly none).
type SharedStore interface {
	// OpenStore opens the cluster's store. apply is how the store gives
	// the router a retained event that any node (this one included)
	// stored: it becomes the topic's retained event here, the one a
	// subscriber asking for get_retained gets. apply may be called from
	// the store's goroutines until the store is closed.
	OpenStore(rules map[wamp.URI][]HistoryRule, log *slog.Logger, apply func(realm wamp.URI, ev *history.Event)) (SharedEventStore, error)
}

// SharedEventStore is a cluster's store: the event history, and the
// retained events shared by every node.
type SharedEventStore interface {
	EventStore
	// Retain stores ev (ev.Topic's new retained event in realm) for the
	// other nodes, without waiting; it must copy what it keeps.
	Retain(realm wamp.URI, ev *history.Event)
}

// applyRetained makes a retained event another node (or this one, through
// the shared store) stored the topic's retained event in this node's
// realm. Events of a realm this node does not have are dropped: such a
// realm has no subscriber here.
func (r *Router) applyRetained(realm wamp.URI, ev *history.Event) {
	rl := r.realmNamed(realm)
	if rl == nil {
		return
	}
	rl.hist.retainShared(ev.Topic, ev.Publication, ev.Details, &ev.Payload, r.log)
}
